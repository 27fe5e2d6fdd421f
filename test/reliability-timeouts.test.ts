// Timeouts: a timed-out call leaves nothing behind in the client, a late reply is dropped
// with a debug log, and a call made while the broker is unreachable waits for the
// connection up to its timeout and then says so.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ClusterRpcProxy, loadConfig, RpcTimeout, ServiceRunner, type ClusterClient } from 'enoki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultService } from './faults/fixtures/fault-service.js';
import { LOG, LogTap, ROOT, sleep } from './faults/harness.js';
import { TcpProxy } from './faults/tcp-proxy.js';
import { BROKER, createVhost, type TestVhost } from './support/vhost.js';

const execFileAsync = promisify(execFile);

let vhost: TestVhost;
let runner: ServiceRunner;
const tap = new LogTap('debug');

beforeAll(async () => {
  vhost = createVhost('timeouts');
  runner = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }), { logger: tap.logger.child({ who: 'service' }) });
  runner.add(FaultService);
  await runner.start();
});

afterAll(async () => {
  await runner?.stop();
  vhost?.remove();
});

describe('timeouts', () => {
  it('drops a reply that comes after its call timed out, with a debug log', async () => {
    const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }), { logger: tap.logger.child({ who: 'client' }) });
    try {
      const since = Date.now();
      const error = await client.fault_service.echo.call([1, 400], {}, { timeoutMs: 100 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RpcTimeout);
      expect((error as RpcTimeout).code).toBe('ENOKI_ERR_RPC_TIMEOUT');
      expect(client.inFlight).toBe(0);
      await sleep(700);
      const dropped = tap.matching(LOG.droppedReply, since);
      expect(dropped).toHaveLength(1);
      expect(dropped[0]!.level).toBe(20); // debug
      // The client goes on as before.
      await expect(client.fault_service.echo(2)).resolves.toMatchObject({ i: 2 });
    } finally {
      await client.close();
    }
  });

  it('leaves no growth in the client heap after 100,000 timed-out calls', { timeout: 120_000 }, async () => {
    const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/faults/fixtures/timeout-heap.ts', vhost.uri, '100000'], {
      cwd: ROOT,
      timeout: 110_000,
    });
    const { base, end, inFlight, codes } = JSON.parse(stdout.trim().split('\n').pop()!) as { base: number; end: number; inFlight: number; codes: Record<string, number> };
    expect(codes).toEqual({ ENOKI_ERR_RPC_TIMEOUT: 100_000 });
    expect(inFlight).toBe(0);
    // Generous: one leaked closure per call would be several MB; a pending entry far more.
    expect(end - base).toBeLessThan(4 * 1024 * 1024);
  });

  it('waits for a lost connection up to the timeout, then fails saying so; works again once back', async () => {
    const proxy = await TcpProxy.start();
    const broker = new URL(BROKER);
    const uri = `amqp://${broker.username}:${broker.password}@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost.name)}`;
    const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: uri, LOGGING: { level: 'silent' } }), { logger: tap.logger.child({ who: 'cut-client' }) });
    try {
      await expect(client.fault_service.echo(1)).resolves.toMatchObject({ i: 1 });
      proxy.cut();
      await sleep(100);
      const started = Date.now();
      const error = (await client.fault_service.echo.call([2], {}, { timeoutMs: 1500 }).catch((e: unknown) => e)) as Error & { code?: string };
      const waited = Date.now() - started;
      expect(error.code).toBe('ENOKI_ERR_DISCONNECTED');
      expect(error.message).toMatch(/127\.0\.0\.1.*fault_service\.echo gave up after 1500 ms waiting for the broker/);
      expect(error.message).not.toContain(`:${broker.password}@`);
      expect(waited).toBeGreaterThanOrEqual(1400);
      expect(waited).toBeLessThan(3000);
      expect(client.inFlight).toBe(0);
      proxy.restore();
      await expect(client.fault_service.echo.call([3], {}, { timeoutMs: 15_000 })).resolves.toMatchObject({ i: 3 });
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('a call made while disconnected is sent once the connection is back, within its timeout', async () => {
    const proxy = await TcpProxy.start();
    const broker = new URL(BROKER);
    const uri = `amqp://${broker.username}:${broker.password}@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost.name)}`;
    const client: ClusterClient = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: uri, LOGGING: { level: 'silent' } }), { logger: tap.logger.child({ who: 'cut-client-2' }) });
    try {
      proxy.cut();
      await sleep(100);
      const call = client.fault_service.echo.call([7], {}, { timeoutMs: 20_000 });
      await sleep(1000);
      proxy.restore();
      await expect(call).resolves.toMatchObject({ i: 7 });
    } finally {
      await client.close();
      await proxy.close();
    }
  });
});
