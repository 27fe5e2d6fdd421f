// The config schema as an operator meets it: a near-typo of an enoki key is kept but
// warned about, a typo inside enoki's sections is an error with a suggestion, nested
// `${A:${B:x}}` defaults resolve, and the environment overrides any key enoki reads.

import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { configFiles } from './support/config-files.js';
import { DEFAULT_CONFIG, loadConfig, showConfig } from '../src/config.js';
import { overrideVariables } from '../src/config-env.js';
import { KNOWN_KEYS, SECTION_KEYS } from '../src/config-schema.js';
import { EnokiError } from '../src/errors.js';

const file = configFiles('enoki-config-schema');

function invalid(fn: () => unknown): EnokiError {
  try {
    fn();
  } catch (err) {
    expect((err as EnokiError).code).toBe('ENOKI_ERR_CONFIG_INVALID');
    return err as EnokiError;
  }
  throw new Error('expected ENOKI_ERR_CONFIG_INVALID, nothing was thrown');
}

describe('typos', () => {
  it('a top-level key one edit from an enoki key is kept, with a "did you mean" warning naming the file', async () => {
    const path = await file('AMQP_URL: amqp://u:pw-secret@h/\nmax_worker: 3\nDATABASE_URL: postgres://db\n');
    const warnings: string[] = [];
    const config = loadConfig(path, { env: {}, onWarning: (m) => warnings.push(m) });
    expect(config['AMQP_URL']).toBe('amqp://u:pw-secret@h/');
    expect(config.AMQP_URI).toBe(DEFAULT_CONFIG.AMQP_URI);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toBe(`config ${path}: AMQP_URL is not an enoki key; did you mean AMQP_URI? (kept as it is for your own code)`);
    expect(warnings[1]).toMatch(/max_worker is not an enoki key; did you mean max_workers\?/);
  });

  it('keys that are nothing like an enoki key pass without a word', () => {
    const warnings: string[] = [];
    loadConfig({ DATABASE_URL: 'x', FEATURE_FLAGS: [], greeting: 'hi', PORT: 1 }, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
  });

  it('without onWarning, the warning goes to process.emitWarning', async () => {
    const seen: Error[] = [];
    const listener = (w: Error): void => void seen.push(w);
    process.on('warning', listener);
    try {
      loadConfig({ HEARTBEET: 5 });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listener);
    }
    expect(seen.map((w) => w.message)).toContainEqual(expect.stringMatching(/HEARTBEET is not an enoki key; did you mean HEARTBEAT\?/));
  });

  it.each([
    ['POOL.threds', { POOL: { threds: 4 } }, /unknown key \(did you mean threads\?\); expected one of threads, idle_timeout/],
    ['POOL.shutdown_grase', { POOL: { shutdown_grase: 4 } }, /did you mean shutdown_grace\?/],
    ['LOGGING.levle', { LOGGING: { levle: 'debug' } }, /did you mean level\?/],
    ['AMQP_SSL.passphrse', { AMQP_SSL: { passphrse: 'x' } }, /did you mean passphrase\?/],
    ['POOL.color', { POOL: { color: 'red' } }, /unknown key; expected one of/],
    ['HTTP.header_timeout', { HTTP: { header_timeout: 5 } }, /did you mean headers_timeout\?/],
    ['HTTP.max_connections', { HTTP: { max_connections: -1 } }, /expected an integer >= 0, found -1/],
  ])('an unknown key inside an enoki section is an error: %s', async (key, input, detail) => {
    const path = await file(yaml.dump(input));
    const err = invalid(() => loadConfig(path, { env: {} }));
    expect(err.message).toContain(`invalid config ${key} in ${path}:`);
    expect(err.message).toMatch(detail);
  });
});

describe('every section', () => {
  it('is strict: no enoki key takes a mapping with a key it does not know, and each that takes a mapping is a listed section with variables', () => {
    const sections: string[] = [];
    for (const key of KNOWN_KEYS) {
      const err = invalid(() => loadConfig({ [key]: { zz_not_a_key: 1 } }));
      expect(err.message, key).toMatch(new RegExp(`^invalid config ${key}(\\.zz_not_a_key)? in <object>: `));
      if (err.message.startsWith(`invalid config ${key}.zz_not_a_key in <object>: unknown key`)) sections.push(key);
    }
    // A section added to the schema without SECTION_KEYS would have no did-you-mean and no variables.
    expect(sections.sort()).toEqual(Object.keys(SECTION_KEYS).sort());
    const variables = new Set(overrideVariables().map((v) => v.variable));
    for (const section of sections) expect(variables.has(`${section}_${SECTION_KEYS[section as keyof typeof SECTION_KEYS][0]!.toUpperCase()}`), section).toBe(true);
  });
});

describe('nested defaults', () => {
  it('${A:${B:x}} takes A, else B, else x', () => {
    const input = { AMQP_URI: '${A:${B:amqp://guest:guest@fallback:5672/}}', label: 'pre-${X:${Y:${Z:deep}}}-post' };
    expect(loadConfig(input, { env: {} })).toMatchObject({ AMQP_URI: 'amqp://guest:guest@fallback:5672/', label: 'pre-deep-post' });
    expect(loadConfig(input, { env: { B: 'amqp://b/', Y: 'why' } })).toMatchObject({ AMQP_URI: 'amqp://b/', label: 'pre-why-post' });
    expect(loadConfig(input, { env: { A: 'amqp://a/', B: 'amqp://b/', Z: 'z' } })).toMatchObject({ AMQP_URI: 'amqp://a/', label: 'pre-z-post' });
  });

  it('a default is only evaluated when needed, and a whole-scalar nested default is YAML-typed', () => {
    expect(loadConfig({ max_workers: '${W:${NOT_SET_AND_NO_DEFAULT}}' }, { env: { W: '4' } }).max_workers).toBe(4);
    expect(loadConfig({ max_workers: '${W:${V:6}}' }, { env: {} }).max_workers).toBe(6);
    expect(() => loadConfig({ max_workers: '${W:${V}}' }, { env: {} })).toThrow(/environment variable V is not set/);
  });

  it('braces that do not form a reference stay as written', () => {
    expect(loadConfig({ a: 'x}y', b: '${', c: '${A:unclosed', d: '{x}' }, { env: {} })).toMatchObject({ a: 'x}y', b: '${', c: '${A:unclosed', d: '{x}' });
  });
});

describe('environment overrides', () => {
  it('override every key enoki reads, over the file, typed as YAML', async () => {
    const path = await file('WEB_SERVER_ADDRESS: 0.0.0.0:8000\nmax_workers: 10\nPOOL:\n  threads: 2\nLOGGING: warn\n');
    const config = loadConfig(path, {
      env: {
        WEB_SERVER_ADDRESS: '127.0.0.1:9100',
        MAX_WORKERS: '3',
        STARTUP_TIMEOUT: '0',
        INCLUDE_REMOTE_STACK: 'true',
        POOL_THREADS: '7',
        POOL_SHUTDOWN_GRACE: '2.5',
        LOGGING_DESTINATION: 'stdout',
        AMQP_SSL_REJECT_UNAUTHORIZED: 'false',
      },
    });
    expect(config).toMatchObject({
      WEB_SERVER_ADDRESS: '127.0.0.1:9100',
      max_workers: 3,
      STARTUP_TIMEOUT: 0,
      INCLUDE_REMOTE_STACK: true,
      POOL: { threads: 7, shutdownGrace: 2.5, idleTimeout: 60 },
      // LOGGING: warn in the file is the level; the variable sets another key beside it.
      LOGGING: { level: 'warn', destination: 'stdout' },
      AMQP_SSL: { rejectUnauthorized: false },
    });
  });

  it('apply to the defaults too (no file), but not to a mapping given in code', () => {
    expect(loadConfig(undefined, { env: { RPC_EXCHANGE: 'other-rpc' } }).rpc_exchange).toBe('other-rpc');
    expect(loadConfig({ rpc_exchange: 'mine' }, { env: { RPC_EXCHANGE: 'other-rpc' } }).rpc_exchange).toBe('mine');
  });

  it('an invalid value names the variable it came from', async () => {
    const path = await file('POOL:\n  threads: 2\n');
    expect(invalid(() => loadConfig(path, { env: { POOL_THREADS: 'many' } })).message).toBe(
      'invalid config POOL.threads in environment variable POOL_THREADS: expected an integer >= 1, found the string "many"',
    );
    expect(invalid(() => loadConfig(path, { env: { STARTUP_TIMEOUT: '-1' } })).message).toMatch(/STARTUP_TIMEOUT in environment variable STARTUP_TIMEOUT: expected a number of seconds >= 0/);
  });

  it('there is one variable per key, and each of them works', () => {
    const variables = overrideVariables();
    expect(new Set(variables.map((v) => v.variable)).size).toBe(variables.length);
    expect(variables.map((v) => v.variable)).toEqual(expect.arrayContaining(['AMQP_URI', 'WEB_SERVER_ADDRESS', 'STARTUP_TIMEOUT', 'RPC_EXCHANGE', 'POOL_IDLE_TIMEOUT', 'LOGGING_LEVEL', 'AMQP_SSL_CA']));
    const values: Record<string, string> = {
      AMQP_URI: 'amqp://h/',
      AMQP_URI_ORDER: 'shuffled',
      QUEUE_TYPE: 'quorum',
      WEB_SERVER_ADDRESS: '1.2.3.4:5',
      METRICS_ADDRESS: '127.0.0.1:9464',
      RPC_EXCHANGE: 'x',
      LOGGING_LEVEL: 'debug',
      LOGGING_DESTINATION: 'stdout',
      LOGGING_PRETTY: 'true',
      POOL_MAX_QUEUE: '9',
      AMQP_SSL: 'true',
      LOGGING: 'debug',
      POOL: '{ threads: 2 }',
      HTTP: '{ headers_timeout: 3 }',
      AMQP_SSL_CA: 'ca.pem',
      AMQP_SSL_CERT: 'c.pem',
      AMQP_SSL_KEY: 'k.pem',
      AMQP_SSL_PASSPHRASE: 'pp',
      SERIALIZER: 'msgpack',
      DELIVERY_MODE: 'transient',
      PUBLISH_CONFIRMS: 'false',
    };
    for (const { variable, path } of variables) {
      const raw = values[variable] ?? (variable.endsWith('STACK') || variable.endsWith('UNAUTHORIZED') ? 'false' : '7');
      const config = loadConfig(undefined, { env: { [variable]: raw } });
      const [section, key] = path.split('.');
      const camel = key?.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
      const own = config[section!] as Record<string, unknown>;
      // HTTP keeps the file's spelling (http-limits.ts reads it so).
      const got = key === undefined ? config[section!] : section === 'HTTP' ? own[key] : own[camel!];
      if (variable === 'AMQP_SSL') expect(got).toEqual({ rejectUnauthorized: true });
      else if (variable === 'LOGGING') expect(config.LOGGING.level).toBe('debug');
      else if (variable === 'POOL') expect(config.POOL.threads).toBe(2);
      else if (variable === 'HTTP') expect(config.HTTP).toEqual({ headers_timeout: 3 });
      else expect(got, variable).toEqual(yaml.load(raw));
    }
  });
});

describe('show-config', () => {
  it('masks the values of keys named like secrets, not keys that merely contain "key"', () => {
    const secrets = ['STRIPE_API_KEY', 'apiKey', 'JWT_PRIVATE_KEY', 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'DB_PASSWD', 'DB_PWD', 'SMTP_CREDENTIALS', 'GITHUB_TOKEN', 'db_password', 'AUTHORIZATION'];
    const config = loadConfig({ ...Object.fromEntries(secrets.map((key) => [key, `value-of-${key}`])), CACHE_KEY_PREFIX: 'app', AMQP_SSL: { key: '/etc/client.key' } });
    const shown = JSON.parse(showConfig(config, 'json')) as Record<string, unknown>;
    for (const key of secrets) expect(shown[key], key).toBe('***');
    expect(shown['CACHE_KEY_PREFIX']).toBe('app');
    expect(shown['AMQP_SSL']).toMatchObject({ key: '/etc/client.key' });
  });

  it('prints JSON that holds the same config as the YAML, secrets masked in both', () => {
    const config = loadConfig({ AMQP_URI: 'amqp://u:hunter22@h:5672/v', AMQP_SSL: { passphrase: 'pp-value' }, db_password: 'dbpw' });
    const asJson = JSON.parse(showConfig(config, 'json')) as Record<string, unknown>;
    expect(asJson).toEqual(yaml.load(showConfig(config, 'yaml')));
    expect(asJson['AMQP_URI']).toBe('amqp://u:***@h:5672/v');
    expect(asJson['AMQP_SSL']).toMatchObject({ passphrase: '***', reject_unauthorized: true });
    expect(asJson['db_password']).toBe('***');
    expect(asJson['STARTUP_TIMEOUT']).toBe(60);
    expect(asJson['POOL']).toMatchObject({ idle_timeout: 60, shutdown_grace: 30 });
  });
});
