// `enoki show-config` and `enoki run` read config as an operator expects: ./config.yaml by
// default, the environment over the file, --broker over both; typos warned about on
// stderr, errors naming the key and the file, secrets masked in every format.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './faults/harness.js';

const run = promisify(execFile);
const BIN = join(ROOT, 'bin', 'enoki.js');
let dir: string;

type Outcome = { code: number; stdout: string; stderr: string };

async function enoki(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  // A clean environment apart from PATH: the test machine's own variables must not leak in.
  const base = { PATH: process.env.PATH, HOME: process.env.HOME };
  return run(process.execPath, [BIN, ...args], { cwd: dir, env: { ...base, ...env }, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: Outcome) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'enoki-cli-config-'));
  writeFileSync(
    join(dir, 'config.yaml'),
    'AMQP_URI: amqp://app:file-secret@rabbit-from-file:5672/prod\nmax_workers: 4\nPOOL:\n  threads: 2\nAMQP_URL: amqp://typo\nDATABASE_URL: postgres://u:db-secret@db/app\n',
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('enoki show-config', () => {
  it('reads ./config.yaml without --config, warns about the near-typo, masks the passwords', async () => {
    const { code, stdout, stderr } = await enoki(['show-config']);
    expect(code).toBe(0);
    const shown = yaml.load(stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ AMQP_URI: 'amqp://app:***@rabbit-from-file:5672/prod', max_workers: 4, POOL: { threads: 2 }, DATABASE_URL: 'postgres://u:***@db/app' });
    expect(stderr).toMatch(/enoki: warning: config config\.yaml: AMQP_URL is not an enoki key; did you mean AMQP_URI\?/);
    expect(stdout + stderr).not.toMatch(/file-secret|db-secret/);
  });

  it('applies the environment over the file, and --broker over both', async () => {
    const env = { AMQP_URI: 'amqp://app:env-secret@rabbit-from-env:5672/', POOL_THREADS: '5', WEB_SERVER_ADDRESS: '127.0.0.1:9999' };
    const fromEnv = yaml.load((await enoki(['show-config'], env)).stdout) as Record<string, unknown>;
    expect(fromEnv).toMatchObject({ AMQP_URI: 'amqp://app:***@rabbit-from-env:5672/', POOL: { threads: 5 }, WEB_SERVER_ADDRESS: '127.0.0.1:9999', max_workers: 4 });
    const fromFlag = yaml.load((await enoki(['show-config', '--broker', 'amqp://app:flag-secret@rabbit-from-flag/'], env)).stdout) as Record<string, unknown>;
    expect(fromFlag['AMQP_URI']).toBe('amqp://app:***@rabbit-from-flag/');
  });

  it('prints JSON with --format json', async () => {
    const { code, stdout } = await enoki(['show-config', '--format', 'json']);
    expect(code).toBe(0);
    const shown = JSON.parse(stdout) as Record<string, unknown>;
    expect(shown['AMQP_URI']).toBe('amqp://app:***@rabbit-from-file:5672/prod');
    expect(shown['STARTUP_TIMEOUT']).toBe(60);
    expect(stdout).not.toContain('file-secret');
    expect((await enoki(['show-config', '--format', 'toml'])).code).toBe(2);
  });

  it('exits 1 on an unknown key inside a section, naming the key, the file and the likely key', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'POOL:\n  threds: 4\n');
    const { code, stderr } = await enoki(['show-config', '--config', 'bad.yaml']);
    expect(code).toBe(1);
    expect(stderr).toContain('invalid config POOL.threds in bad.yaml: unknown key (did you mean threads?)');
    expect(stderr).toContain('[ENOKI_ERR_CONFIG_INVALID]');
  });
});

describe('enoki run', () => {
  it('reads ./config.yaml by default (STARTUP_TIMEOUT from the environment)', async () => {
    const fixture = join(ROOT, 'test/faults/fixtures/fault-service.ts');
    const sub = mkdtempSync(join(dir, 'run-'));
    writeFileSync(join(sub, 'config.yaml'), 'AMQP_URI: amqp://guest:guest@127.0.0.1:1/\nLOGGING: { level: error }\n');
    const outcome = await run(process.execPath, [BIN, 'run', `${fixture}:FaultService`], {
      cwd: sub,
      // The fixture imports 'enoki', which resolves to src/ through the repo's tsconfig paths.
      env: { PATH: process.env.PATH, HOME: process.env.HOME, STARTUP_TIMEOUT: '1', TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json') },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: Outcome) => err,
    );
    expect(outcome.code).toBe(1);
    // Port 1 came from ./config.yaml; the 1 s wait from the environment.
    expect(outcome.stderr).toMatch(/\[ENOKI_ERR_BROKER_REFUSED\]/);
    expect(outcome.stderr).toMatch(/nothing listens on 127\.0\.0\.1:1\b/);
    expect(outcome.stderr).toMatch(/gave up after \d+ attempts? in 1\.\d s/);
  });
});
