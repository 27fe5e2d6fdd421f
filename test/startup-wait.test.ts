// A service or client started before its broker waits for it (STARTUP_TIMEOUT) instead
// of exiting: docker compose, systemd ordering and broker restarts all start things in
// the wrong order. The broker "comes later" through a local relay that starts listening
// late; the real broker is never stopped.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import { ClusterRpcProxy, isEnokiError, loadConfig, ServiceRunner, SharedRpcClient } from 'enoki';
import { expressRpc } from 'enoki/express';
import { fastifyRpc } from 'enoki/fastify';
import { FaultService } from './faults/fixtures/fault-service.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogTap, ROOT, sleep, startEnoki, stopProcess, waitUntil } from './faults/harness.js';
import { LateRelay } from './support/late-relay.js';
import { createVhost, type TestVhost } from './support/vhost.js';

let vhost: TestVhost;

beforeAll(() => {
  vhost = createVhost('startup-wait');
});

afterAll(() => {
  vhost?.remove();
});

describe('startup waits for the broker', () => {
  it('enoki run started 10 s before its broker is reachable answers its first call', async () => {
    const relay = await LateRelay.reserve();
    const started = Date.now();
    const retryLines = (output: string): Array<Record<string, unknown>> =>
      output
        .split('\n')
        .filter((line) => line.includes('"AMQP connection attempt failed"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    let opening: Promise<void> = Promise.resolve();
    // The broker comes 10 s after the start, and not before enoki has retried twice: on a
    // loaded machine node and tsx alone can take 10 s, and then nothing would have waited.
    const proc = await startEnoki(['test/faults/fixtures/fault-service.ts:FaultService', '--broker', relay.uri(vhost.name)], {}, 90_000, (starting) => {
      opening = Promise.all([sleep(10_000), waitUntil('two retries', () => retryLines(starting.output()).length >= 2, 60_000)]).then(() => relay.open());
      // Awaited below; a failure here must not surface first as an unhandled rejection.
      opening.catch(() => undefined);
    });
    const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }), { timeoutMs: 20_000 });
    try {
      await opening;
      expect(Date.now() - started).toBeGreaterThanOrEqual(9_500);
      await expect(client.fault_service.echo(1)).resolves.toMatchObject({ i: 1 });
      // It retried, at warn, with the cause and the delay, and said nothing of a password.
      const retries = retryLines(proc.output());
      expect(retries.length).toBeGreaterThanOrEqual(2);
      for (const retry of retries) {
        expect(retry['level']).toBe(40);
        expect(retry['code']).toBe('ENOKI_ERR_BROKER_REFUSED');
        expect(typeof retry['retryInMs']).toBe('number');
        expect(retry['startupGivesUpInS']).toBeGreaterThan(0);
      }
      expect(proc.output()).not.toContain(`:${new URL(vhost.uri).password}@`);
    } finally {
      await client.close();
      await stopProcess(proc);
      await relay.close();
    }
  }, 150_000);

  it('ClusterRpcProxy.connect with STARTUP_TIMEOUT 0 waits as long as it takes', async () => {
    const relay = await LateRelay.reserve();
    const tap = new LogTap('debug');
    const opening = sleep(3_000).then(() => relay.open());
    const config = loadConfig({ AMQP_URI: relay.uri(vhost.name), STARTUP_TIMEOUT: 0, LOGGING: { level: 'silent' } });
    const client = await ClusterRpcProxy.connect(config, { logger: tap.logger });
    try {
      await opening;
      expect(relay.accepted).toBeGreaterThanOrEqual(1);
      const retries = tap.matching('AMQP connection attempt failed');
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(retries.every((line) => line['startupGivesUpInS'] === 'never')).toBe(true);
    } finally {
      await client.close();
      await relay.close();
    }
  });

  it('the client option startupTimeout overrides the config', async () => {
    const relay = await LateRelay.reserve();
    const started = Date.now();
    const err = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: relay.uri(vhost.name), STARTUP_TIMEOUT: 60, LOGGING: { level: 'silent' } }), { startupTimeout: 1 }).catch(
      (e: unknown) => e as { code: string },
    );
    expect((err as { code: string }).code).toBe('ENOKI_ERR_BROKER_REFUSED');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a startupTimeout that is not a number of seconds >= 0 is refused before connecting', async () => {
    const config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } });
    for (const startupTimeout of [-1, Number.NaN, '5' as unknown as number]) {
      await expect(ClusterRpcProxy.connect(config, { startupTimeout })).rejects.toMatchObject({
        code: 'ENOKI_ERR_CONFIG_INVALID',
        message: expect.stringContaining('invalid config startupTimeout in ClusterRpcProxy.connect options: expected a number of seconds >= 0'),
      });
    }
  });

  it('ServiceRunner.stop() while start() waits for the broker ends the wait, not after STARTUP_TIMEOUT', async () => {
    const relay = await LateRelay.reserve();
    const tap = new LogTap('debug');
    const runner = new ServiceRunner(loadConfig({ AMQP_URI: relay.uri(vhost.name), STARTUP_TIMEOUT: 0 }), { logger: tap.logger });
    runner.add(FaultService);
    const starting = runner.start().then(
      () => 'started',
      (err: { code?: string }) => err.code ?? 'failed',
    );
    await waitUntil('a retry to be logged', () => tap.count('AMQP connection attempt failed') > 0, 30_000);
    const stopAt = Date.now();
    await runner.stop();
    expect(await starting).not.toBe('started');
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(tap.count('service failed to start')).toBe(0);
  });

  it('a shared web client closed while it waits for the broker stops waiting', async () => {
    const relay = await LateRelay.reserve();
    const shared = new SharedRpcClient({ config: loadConfig({ AMQP_URI: relay.uri(vhost.name), STARTUP_TIMEOUT: 0, LOGGING: { level: 'silent' } }) });
    const connecting = shared.connect().then(
      () => 'connected',
      (err: { code?: string }) => err.code,
    );
    await sleep(1_000);
    const closeAt = Date.now();
    await shared.close();
    expect(Date.now() - closeAt).toBeLessThan(5_000);
    expect(await connecting).toBe('ENOKI_ERR_CLIENT_CLOSED');
  });

  it('SIGTERM while enoki run waits for the broker ends it at once, exit code 0', async () => {
    const relay = await LateRelay.reserve();
    const child = spawn(process.execPath, ['bin/enoki.js', 'run', 'test/faults/fixtures/fault-service.ts:FaultService', '--broker', relay.uri(vhost.name)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = once(child, 'exit');
    try {
      await waitUntil('a retry to be logged', () => output.includes('AMQP connection attempt failed'), 30_000);
      const signalled = Date.now();
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(10_000);
      expect(output).toMatch(/SIGTERM: stopping before startup finished/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('the pooled web clients wait for the broker as ClusterRpcProxy.connect does', () => {
  let runner: ServiceRunner;

  beforeAll(async () => {
    // The service reaches the broker directly; only the web clients go through the late relay.
    runner = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }));
    runner.add(FaultService);
    await runner.start();
  });

  afterAll(async () => {
    await runner?.stop();
  });

  // STARTUP_TIMEOUT 1 in the config: only the client option { startupTimeout: 60 } lets the
  // client outlast a broker that comes 3 s later.
  const lateConfig = (relay: LateRelay) => loadConfig({ AMQP_URI: relay.uri(vhost.name), STARTUP_TIMEOUT: 1, LOGGING: { level: 'silent' } });

  it('fastify: app.ready() waits for a broker that comes 3 s later (client startupTimeout), logging each retry, then routes answer', async () => {
    const relay = await LateRelay.reserve();
    const tap = new LogTap('debug');
    const app = Fastify();
    try {
      const started = Date.now();
      const opening = sleep(3_000).then(() => relay.open());
      await app.register(fastifyRpc, { config: lateConfig(relay), client: { startupTimeout: 60, logger: tap.logger } });
      app.get('/echo', (req) => req.rpc.fault_service!.echo(7));
      await app.ready();
      await opening;
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
      const retries = tap.matching('AMQP connection attempt failed');
      expect(retries.length).toBeGreaterThanOrEqual(2);
      expect(retries.every((line) => line.level === 40 && line['code'] === 'ENOKI_ERR_BROKER_REFUSED')).toBe(true);
      const res = await app.inject({ method: 'GET', url: '/echo' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ i: 7 });
    } finally {
      await app.close();
      await relay.close();
    }
  }, 60_000);

  it('express: the first request waits for a broker that comes 3 s later (client startupTimeout) and is answered', async () => {
    const relay = await LateRelay.reserve();
    const { server, base } = await expressApp({ config: lateConfig(relay), client: { startupTimeout: 60, logger: new LogTap('debug').logger } });
    try {
      const started = Date.now();
      void sleep(3_000).then(() => relay.open());
      const res = await fetch(`${base}/echo`);
      expect(await res.text()).toBe(JSON.stringify({ i: 8, pid: process.pid }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
    } finally {
      await closeServer(server);
      await relay.close();
    }
  }, 60_000);

  it('express: client startupTimeout 1 gives up on a broker that never comes, though STARTUP_TIMEOUT is 60', async () => {
    const relay = await LateRelay.reserve();
    const config = loadConfig({ AMQP_URI: relay.uri(vhost.name), STARTUP_TIMEOUT: 60, LOGGING: { level: 'silent' } });
    const { server, base } = await expressApp({ config, client: { startupTimeout: 1, logger: new LogTap('debug').logger } });
    try {
      const started = Date.now();
      const res = await fetch(`${base}/echo`);
      expect(res.status).toBe(502);
      expect(await res.text()).toBe('ENOKI_ERR_BROKER_REFUSED');
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await closeServer(server);
    }
  }, 60_000);
});

async function expressApp(options: Parameters<typeof expressRpc>[0]): Promise<{ server: Server; base: string }> {
  const app = express();
  app.use(expressRpc(options));
  app.get('/echo', async (req: Request, res: Response) => {
    res.json(await req.rpc.fault_service!.echo(8));
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(502).send(isEnokiError(err) ? err.code : String(err));
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
