// The AMQP password never reaches an error, a log line or `enoki show-config`: not when
// the connection is refused, not when it drops and comes back, not through the CLI. A
// broker user of this file's own, with a password that is both percent-encoded and not
// in the URI, so both spellings are checked.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ClusterRpcProxy, loadConfig, ServiceRunner } from 'enoki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultService } from './faults/fixtures/fault-service.js';
import { LOG, LogTap, rabbitmqctl, ROOT, startEnoki, stopProcess, waitUntil } from './faults/harness.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const execFileAsync = promisify(execFile);

const hex = randomBytes(4).toString('hex');
const user = `enoki-secret-${hex}`;
const password = `S3cr3t/pw#${hex}`;
const encoded = encodeURIComponent(password);
const wrong = `Wr0ng/pw#${hex}`;
let vhost: TestVhost;
let dir: string;

const uriWith = (pw: string, port = 5672): string => `amqp://${user}:${encodeURIComponent(pw)}@127.0.0.1:${port}/${encodeURIComponent(vhost.name)}`;

function expectNoSecret(text: string, secret = password): void {
  expect(text).not.toContain(secret);
  expect(text).not.toContain(encodeURIComponent(secret));
  // The distinctive part alone, in case something re-encodes it differently.
  expect(text).not.toContain(secret.split('#')[0]);
}

function errorText(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  return [String(e), e.message, e.stack, JSON.stringify(e), e.cause ? String(e.cause) : ''].join('\n');
}

beforeAll(() => {
  vhost = createVhost('secrets');
  execFileSync('rabbitmqctl', ['add_user', user, password], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['set_permissions', '-p', vhost.name, user, '.*', '.*', '.*'], { stdio: 'ignore' });
  dir = mkdtempSync(join(tmpdir(), 'enoki-secrets-'));
});

afterAll(() => {
  execFileSync('rabbitmqctl', ['delete_user', user], { stdio: 'ignore' });
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('the AMQP password stays secret', () => {
  it('in the error and the logs of a refused login', async () => {
    const tap = new LogTap('debug');
    const err = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: uriWith(wrong), LOGGING: { level: 'silent' } }), { logger: tap.logger }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ENOKI_ERR_BROKER_AUTH');
    expect((err as Error).message).toContain(`${user}:***@127.0.0.1`);
    expect((err as Error).message).toMatch(/ACCESS_REFUSED/);
    expectNoSecret(errorText(err), wrong);
    expectNoSecret(tap.text(), wrong);
  });

  it('in the error and the logs when the broker cannot be reached', async () => {
    const tap = new LogTap('debug');
    const err = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: uriWith(password, 1), STARTUP_TIMEOUT: 1, LOGGING: { level: 'silent' } }), { logger: tap.logger }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ENOKI_ERR_BROKER_REFUSED');
    expect((err as Error).message).toMatch(/connection refused/);
    // Startup retried (one warn line per retry) before it gave up.
    expect(tap.count('AMQP connection attempt failed')).toBeGreaterThan(0);
    expectNoSecret(errorText(err));
    expectNoSecret(tap.text());
  });

  it('in the logs of a dropped connection and its reconnect', async () => {
    const tap = new LogTap('debug');
    const config = loadConfig({ AMQP_URI: uriWith(password), LOGGING: { level: 'silent' } });
    const runner = new ServiceRunner(config, { logger: tap.logger.child({ who: 'service' }) });
    runner.add(FaultService);
    await runner.start();
    const client = await ClusterRpcProxy.connect(config, { logger: tap.logger.child({ who: 'client' }) });
    try {
      await expect(client.fault_service.echo(1)).resolves.toMatchObject({ i: 1 });
      await rabbitmqctl('close_all_connections', '-p', vhost.name, 'enoki secrets test');
      await waitUntil('both to reconnect', () => tap.count(LOG.connected) >= 4, 20_000);
      await expect(client.fault_service.echo(2)).resolves.toMatchObject({ i: 2 });
      expect(tap.count(LOG.connectionLost)).toBe(2);
      expect(tap.text()).toContain(`${user}:***@`);
      expectNoSecret(tap.text());
    } finally {
      await client.close();
      await runner.stop();
    }
  });

  it('in enoki show-config, with the password from ${VAR} or from --broker', async () => {
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, `AMQP_URI: amqp://${user}:\${ENOKI_TEST_PASSWORD}@127.0.0.1:5672/${encodeURIComponent(vhost.name)}\n`);
    const env = { ...process.env, ENOKI_TEST_PASSWORD: encoded };
    const fromVar = await execFileAsync(process.execPath, ['bin/enoki.js', 'show-config', '--config', configPath], { cwd: ROOT, env });
    expect(fromVar.stdout).toContain(`amqp://${user}:***@127.0.0.1:5672/`);
    expectNoSecret(fromVar.stdout + fromVar.stderr);
    const fromFlag = await execFileAsync(process.execPath, ['bin/enoki.js', 'show-config', '--broker', uriWith(password)], { cwd: ROOT });
    expect(fromFlag.stdout).toContain(`amqp://${user}:***@127.0.0.1:5672/`);
    expectNoSecret(fromFlag.stdout + fromFlag.stderr);
  });

  it('in enoki run output, refused or running, with the password kept out of config.yaml', async () => {
    const configPath = join(dir, 'run.yaml');
    // The file holds no secret: ${ENOKI_TEST_PASSWORD} is filled from the environment.
    writeFileSync(configPath, `AMQP_URI: amqp://${user}:\${ENOKI_TEST_PASSWORD}@127.0.0.1:5672/${encodeURIComponent(vhost.name)}\nLOGGING:\n  level: debug\n`);
    const refused = await execFileAsync(process.execPath, ['bin/enoki.js', 'run', 'test/faults/fixtures/fault-service.ts:FaultService', '--config', configPath], {
      cwd: ROOT,
      env: { ...process.env, ENOKI_TEST_PASSWORD: encodeURIComponent(wrong) },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect((refused as { code: number }).code).toBe(1);
    expect((refused as { stderr: string }).stderr).toMatch(/ENOKI_ERR_BROKER_AUTH/);
    expectNoSecret((refused as { stdout: string }).stdout + (refused as { stderr: string }).stderr, wrong);

    const proc = await startEnoki(['test/faults/fixtures/fault-service.ts:FaultService', '--config', configPath], { ENOKI_TEST_PASSWORD: encoded });
    try {
      await rabbitmqctl('close_all_connections', '-p', vhost.name, 'enoki secrets test');
      await waitUntil('enoki run to reconnect', () => proc.output().split('AMQP connected').length > 2, 20_000);
      expect(proc.output()).toContain(`${user}:***@`);
      expectNoSecret(proc.output());
    } finally {
      await stopProcess(proc);
    }
  });
});
