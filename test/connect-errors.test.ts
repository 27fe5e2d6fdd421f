// Every way a broker connection can fail at startup ends in its own coded error that names
// the URI with the password masked and says what to do next; failures that waiting cannot
// fix fail at once, however long STARTUP_TIMEOUT is. On the real broker (wrong password,
// missing and forbidden vhost) and on local sockets standing in for the rest.

import { execFile, execFileSync } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { ClusterRpcProxy, loadConfig, type EnokiError } from 'enoki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogTap, ROOT } from './faults/harness.js';
import { BROKER, createVhost, type TestVhost } from './support/vhost.js';

const execFileAsync = promisify(execFile);
const PASSWORD = new URL(BROKER).password;
let vhost: TestVhost;
let forbidden: TestVhost;
let httpServer: http.Server;
let silentServer: net.Server;
const silentSockets = new Set<net.Socket>();

const portOf = (server: net.Server | http.Server): number => (server.address() as AddressInfo).port;

/** BROKER's user with `password` on `host:port`/`vhostName`. */
function uri(options: { password?: string; port?: number | string; host?: string; vhostName?: string; scheme?: string } = {}): string {
  const broker = new URL(BROKER);
  const { password = broker.password, port = broker.port || 5672, host = broker.hostname, vhostName = vhost.name, scheme = 'amqp' } = options;
  return `${scheme}://${broker.username}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(vhostName)}`;
}

async function connectError(amqpUri: string, startupTimeout = 60, tap = new LogTap('debug')): Promise<{ err: EnokiError; ms: number }> {
  const started = Date.now();
  const config = loadConfig({ AMQP_URI: amqpUri, STARTUP_TIMEOUT: startupTimeout, HEARTBEAT: 1, LOGGING: { level: 'silent' } });
  const result = await ClusterRpcProxy.connect(config, { logger: tap.logger }).then(
    async (client) => {
      await client.close();
      throw new Error(`connected to ${amqpUri}`);
    },
    (e: unknown) => e as EnokiError,
  );
  return { err: result, ms: Date.now() - started };
}

function expectMasked(err: Error, secret: string): void {
  expect(err.message).toContain(':***@');
  expect(err.message).not.toContain(`:${secret}@`);
  expect(String((err.cause as Error | undefined)?.message ?? '')).not.toContain(secret);
}

beforeAll(async () => {
  vhost = createVhost('connect-errors');
  forbidden = createVhost('connect-errors-forbidden');
  execFileSync('rabbitmqctl', ['clear_permissions', '-p', forbidden.name, new URL(BROKER).username], { stdio: 'ignore' });
  httpServer = http.createServer((_req, res) => res.end('not amqp'));
  silentServer = net.createServer((socket) => silentSockets.add(socket));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => silentServer.listen(0, '127.0.0.1', resolve));
  // Five rabbitmqctl runs: seconds each on a loaded machine.
}, 120_000);

afterAll(async () => {
  vhost?.remove();
  forbidden?.remove();
  httpServer?.closeAllConnections();
  await new Promise((resolve) => httpServer?.close(resolve));
  for (const socket of silentSockets) socket.destroy();
  await new Promise((resolve) => silentServer?.close(resolve));
}, 120_000);

describe('errors that waiting cannot fix fail at once, even with STARTUP_TIMEOUT 60', () => {
  it('a wrong password: ENOKI_ERR_BROKER_AUTH, naming the user and how to check the credentials', async () => {
    const wrong = 'not-the-password-7f3a';
    const tap = new LogTap('debug');
    const { err, ms } = await connectError(uri({ password: wrong }), 60, tap);
    expect(err.code).toBe('ENOKI_ERR_BROKER_AUTH');
    expect(err.retryable).toBe(false);
    expect(ms).toBeLessThan(10_000);
    expect(err.message).toMatch(/ACCESS_REFUSED/);
    expect(err.message).toMatch(/Next: fix the credentials in AMQP_URI/);
    expectMasked(err, wrong);
    expect(tap.count('AMQP connection attempt failed')).toBe(0);
    expect(tap.text()).not.toContain(wrong);
  });

  it('a vhost that does not exist: ENOKI_ERR_BROKER_VHOST, with the rabbitmqctl commands that create it', async () => {
    const { err, ms } = await connectError(uri({ vhostName: `${vhost.name}-missing` }));
    expect(err.code).toBe('ENOKI_ERR_BROKER_VHOST');
    expect(ms).toBeLessThan(10_000);
    expect(err.message).toContain(`rabbitmqctl add_vhost ${vhost.name}-missing`);
    expectMasked(err, PASSWORD);
  });

  it('a vhost the user has no permissions on: ENOKI_ERR_BROKER_VHOST, with set_permissions', async () => {
    const { err, ms } = await connectError(uri({ vhostName: forbidden.name }));
    expect(err.code).toBe('ENOKI_ERR_BROKER_VHOST');
    expect(ms).toBeLessThan(10_000);
    expect(err.message).toContain(`rabbitmqctl set_permissions -p ${forbidden.name} ${new URL(BROKER).username}`);
  });

  it('a port that is not AMQP (an HTTP server): ENOKI_ERR_BROKER_PROTOCOL, pointing at the AMQP port', async () => {
    const { err, ms } = await connectError(uri({ port: portOf(httpServer) }));
    expect(err.code).toBe('ENOKI_ERR_BROKER_PROTOCOL');
    expect(ms).toBeLessThan(10_000);
    expect(err.message).toContain(`127.0.0.1:${portOf(httpServer)} does not speak AMQP 0-9-1`);
    expect(err.message).toMatch(/5672 for amqp:\/\//);
    expectMasked(err, PASSWORD);
  });

  it('amqps:// to a plain AMQP port: ENOKI_ERR_BROKER_TLS, saying the port does not speak TLS', async () => {
    const { err, ms } = await connectError(uri({ scheme: 'amqps' }));
    expect(err.code).toBe('ENOKI_ERR_BROKER_TLS');
    expect(ms).toBeLessThan(10_000);
    expect(err.message).toMatch(/does not speak TLS/);
    expect(err.message).toMatch(/use amqp:\/\//);
    expectMasked(err, PASSWORD);
  });
});

describe('errors that waiting can fix are retried until STARTUP_TIMEOUT, each retry logged with its cause', () => {
  it('a closed port: ENOKI_ERR_BROKER_REFUSED after the timeout, with how long it waited', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = portOf(closed);
    await new Promise((resolve) => closed.close(resolve));
    const tap = new LogTap('debug');
    const { err, ms } = await connectError(uri({ port }), 2, tap);
    expect(err.code).toBe('ENOKI_ERR_BROKER_REFUSED');
    expect(err.retryable).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(1_900);
    expect(ms).toBeLessThan(10_000);
    expect(err.message).toContain(`nothing listens on 127.0.0.1:${port}`);
    expect(err.message).toMatch(/gave up after \d+ attempts in 2\.\d s; STARTUP_TIMEOUT/);
    expectMasked(err, PASSWORD);
    const retries = tap.matching('AMQP connection attempt failed');
    expect(retries.length).toBeGreaterThanOrEqual(2);
    for (const line of retries) {
      expect(line.level).toBe(40);
      expect(line['code']).toBe('ENOKI_ERR_BROKER_REFUSED');
      expect(line['retryInMs']).toBeGreaterThan(0);
      expect(line['retryInMs']).toBeLessThanOrEqual(5_000);
    }
    expect(tap.text()).not.toContain(`:${PASSWORD}@`);
  });

  it('the delay between retries doubles from 200 ms, is capped at 5 s, and is jittered ±30 %', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = portOf(closed);
    await new Promise((resolve) => closed.close(resolve));
    const tap = new LogTap('debug');
    // 200 + 400 + 800 + 1600 + 3200 ms (at most 8.1 s with jitter) reach the sixth retry, the first capped one.
    const { err } = await connectError(uri({ port }), 10, tap);
    expect(err.code).toBe('ENOKI_ERR_BROKER_REFUSED');
    const delays = tap.matching('AMQP connection attempt failed').map((line) => ({ attempt: line['attempt'] as number, ms: line['retryInMs'] as number }));
    expect(delays.length).toBeGreaterThanOrEqual(6);
    expect(delays.map((d) => d.attempt)).toEqual(delays.map((_, i) => i + 1));
    for (const { attempt, ms } of delays) {
      const uncapped = 200 * 2 ** (attempt - 1);
      if (attempt <= 5) {
        expect(ms, `attempt ${attempt}`).toBeGreaterThanOrEqual(Math.floor(uncapped * 0.7));
        expect(ms, `attempt ${attempt}`).toBeLessThanOrEqual(Math.ceil(uncapped * 1.3));
      } else {
        // Uncapped, the sixth would be 6.4 s ± 30 %.
        expect(ms, `attempt ${attempt}`).toBeGreaterThanOrEqual(2_600);
        expect(ms, `attempt ${attempt}`).toBeLessThanOrEqual(5_000);
      }
    }
    // Jitter: the delays are not the bare powers of two (each of the first five is off them
    // with probability > 99 %).
    expect(delays.slice(0, 5).filter(({ attempt, ms }) => ms !== 200 * 2 ** (attempt - 1)).length).toBeGreaterThanOrEqual(3);
  }, 30_000);

  it('a host name that does not resolve: ENOKI_ERR_BROKER_HOST', async () => {
    const { err } = await connectError(uri({ host: 'no-such-broker.invalid' }), 1);
    expect(err.code).toBe('ENOKI_ERR_BROKER_HOST');
    expect(err.message).toContain('host no-such-broker.invalid not found');
  });

  it('a server that accepts and never answers: ENOKI_ERR_BROKER_TIMEOUT', async () => {
    const { err, ms } = await connectError(uri({ port: portOf(silentServer) }), 1);
    expect(err.code).toBe('ENOKI_ERR_BROKER_TIMEOUT');
    expect(ms).toBeLessThan(10_000);
    expect(err.message).toMatch(/did not answer/);
    expect(err.message).toMatch(/firewall/);
  });
});

describe('enoki run', () => {
  it('exits 1 at once on a wrong password, printing the code and the next step, never the password', async () => {
    const wrong = 'cli-wrong-password-91c2';
    const result = await execFileAsync(process.execPath, ['bin/enoki.js', 'run', 'test/faults/fixtures/fault-service.ts:FaultService', '--broker', uri({ password: wrong })], {
      cwd: ROOT,
      timeout: 30_000,
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect((result as { code: number }).code).toBe(1);
    const { stderr, stdout } = result as { stderr: string; stdout: string };
    expect(stderr).toMatch(/\[ENOKI_ERR_BROKER_AUTH\]/);
    expect(stderr).toMatch(/Next: fix the credentials/);
    expect(stderr + stdout).not.toContain(wrong);
  });
});
