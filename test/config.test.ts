import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { configFiles } from './support/config-files.js';
import { DEFAULT_CONFIG, loadConfig, maskUri, showConfig } from '../src/config.js';
import { EnokiError, type ErrorCode } from '../src/errors.js';

const file = configFiles('enoki-config');

function thrown(fn: () => unknown, code: ErrorCode): EnokiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EnokiError);
    expect((err as EnokiError).code).toBe(code);
    return err as EnokiError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe('defaults', () => {
  it('no argument gives the defaults', () => {
    const config = loadConfig();
    expect(config).toMatchObject({
      AMQP_URI: 'amqp://guest:guest@localhost:5672/',
      WEB_SERVER_ADDRESS: '0.0.0.0:8000',
      rpc_exchange: 'nameko-rpc',
      max_workers: 10,
      parent_calls_tracked: 10,
      HEARTBEAT: 60,
      RPC_TIMEOUT: null,
      MAX_MESSAGE_SIZE: 4 * 1024 * 1024,
      INCLUDE_REMOTE_STACK: false,
      LOGGING: { level: 'info', destination: 'stderr', pretty: 'auto' },
      POOL: { threads: availableParallelism(), idleTimeout: 60, maxQueue: 'auto', maxMemoryMb: null, shutdownGrace: 30 },
      AMQP_SSL: null,
    });
    expect(config).toEqual(DEFAULT_CONFIG);
  });

  it('every load is a fresh object; DEFAULT_CONFIG cannot be changed', () => {
    const a = loadConfig();
    a.POOL.threads = 99;
    a.LOGGING.level = 'trace';
    const b = loadConfig({});
    expect(b.POOL.threads).toBe(availableParallelism());
    expect(b.LOGGING.level).toBe('info');
    expect(Object.isFrozen(DEFAULT_CONFIG.POOL)).toBe(true);
    expect(() => {
      (DEFAULT_CONFIG.POOL as { threads: number }).threads = 1;
    }).toThrow(TypeError);
  });

  it('an empty file or empty object is all defaults', async () => {
    expect(loadConfig(await file(''))).toEqual(loadConfig());
    expect(loadConfig(await file('# only a comment\n'))).toEqual(loadConfig());
    expect(loadConfig({})).toEqual(loadConfig());
  });

  it('null values mean "not set"', () => {
    expect(loadConfig({ max_workers: null, POOL: { threads: null }, LOGGING: null }).max_workers).toBe(10);
  });
});

describe('file loading', () => {
  it('reads every key from YAML, mapping snake_case sections to camelCase', async () => {
    const path = await file(`
AMQP_URI: amqps://u:p@broker:5671/prod
AMQP_URI_ORDER: shuffled
QUEUE_TYPE: quorum
WEB_SERVER_ADDRESS: 127.0.0.1:9000
METRICS_ADDRESS: 127.0.0.1:9464
rpc_exchange: my-rpc
max_workers: 4
MAX_PENDING_REPLIES: 16
parent_calls_tracked: 0
HEARTBEAT: 0
STARTUP_TIMEOUT: 5
RPC_TIMEOUT: 2.5
MAX_MESSAGE_SIZE: 1024
INCLUDE_REMOTE_STACK: true
SERIALIZER: msgpack
DELIVERY_MODE: transient
PUBLISH_CONFIRMS: false
LOGGING: { level: debug, destination: /tmp/enoki.log, pretty: false }
POOL: { threads: 3, idle_timeout: 5, max_queue: 100, max_memory_mb: 256, shutdown_grace: 1.5 }
AMQP_SSL: { ca: ca.pem, cert: c.pem, key: k.pem, passphrase: pw, reject_unauthorized: false }
`);
    expect(loadConfig(path)).toEqual({
      AMQP_URI: 'amqps://u:p@broker:5671/prod',
      AMQP_URI_ORDER: 'shuffled',
      QUEUE_TYPE: 'quorum',
      WEB_SERVER_ADDRESS: '127.0.0.1:9000',
      METRICS_ADDRESS: '127.0.0.1:9464',
      rpc_exchange: 'my-rpc',
      max_workers: 4,
      MAX_PENDING_REPLIES: 16,
      parent_calls_tracked: 0,
      HEARTBEAT: 0,
      STARTUP_TIMEOUT: 5,
      RPC_TIMEOUT: 2.5,
      MAX_MESSAGE_SIZE: 1024,
      INCLUDE_REMOTE_STACK: true,
      SERIALIZER: 'msgpack',
      DELIVERY_MODE: 'transient',
      PUBLISH_CONFIRMS: false,
      LOGGING: { level: 'debug', destination: '/tmp/enoki.log', pretty: false },
      POOL: { threads: 3, idleTimeout: 5, maxQueue: 100, maxMemoryMb: 256, shutdownGrace: 1.5 },
      AMQP_SSL: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem', passphrase: 'pw', rejectUnauthorized: false },
    });
  });

  it('loads the repo config.yaml, and AMQP_URI in the environment overrides it', () => {
    const path = fileURLToPath(new URL('../config.yaml', import.meta.url));
    // The repo file sets every key to its default, plus DATABASE_URL for the examples.
    const { DATABASE_URL, ...known } = loadConfig(path, { env: {} });
    expect(known).toEqual(loadConfig());
    expect(DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/test');
    const config = loadConfig(path, { env: { AMQP_URI: 'amqp://svc:s3cret@rabbit:5672/v', LOG_LEVEL: 'debug' } });
    expect(config.AMQP_URI).toBe('amqp://svc:s3cret@rabbit:5672/v');
    expect(config.LOGGING.level).toBe('debug');
  });

  it('a missing file is ENOKI_ERR_CONFIG_FILE naming the file', async () => {
    const path = `${await file('')}.missing.yaml`;
    const err = thrown(() => loadConfig(path), 'ENOKI_ERR_CONFIG_FILE');
    expect(err.message).toContain(path);
    expect(err.message).toContain('ENOENT');
  });

  it('a YAML syntax error names the file and line but never quotes the file', async () => {
    const path = await file('AMQP_URI: amqp://guest:hunter22@h/\nPOOL: [1\nmax_workers: 3\n');
    const err = thrown(() => loadConfig(path), 'ENOKI_ERR_CONFIG_FILE');
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/line \d+/);
    expect(err.message).not.toContain('hunter22');
    expect(err.cause).toBeUndefined();
  });

  it('a file that is not a mapping is invalid', async () => {
    const path = await file('- a\n- b\n');
    const err = thrown(() => loadConfig(path), 'ENOKI_ERR_CONFIG_INVALID');
    expect(err.message).toContain(`invalid config (top level) in ${path}: expected a mapping of config keys, found a list`);
  });
});

describe('substitution', () => {
  it('a whole-scalar ${...} is YAML-typed; a partial one is interpolated', async () => {
    const path = await file(`
max_workers: \${WORKERS:7}
RPC_TIMEOUT: \${TIMEOUT:null}
INCLUDE_REMOTE_STACK: \${STACKS:false}
AMQP_URI: amqp://\${USER:guest}:\${PASS:guest}@\${HOST:localhost}:\${PORT:5672}/
label: worker-\${N:1}
port: \${PORT:5672}
`);
    const config = loadConfig(path, { env: { WORKERS: '3', HOST: 'rabbit', PASS: 'p4ss' } });
    expect(config.max_workers).toBe(3);
    expect(config.RPC_TIMEOUT).toBeNull();
    expect(config.INCLUDE_REMOTE_STACK).toBe(false);
    expect(config.AMQP_URI).toBe('amqp://guest:p4ss@rabbit:5672/');
    expect(config['label']).toBe('worker-1');
    expect(config['port']).toBe(5672);
  });

  it('an env value that is not valid YAML stays a string', () => {
    expect(loadConfig({ x: '${V}' }, { env: { V: 'a: b: c' } })['x']).toBe('a: b: c');
  });

  it('an empty variable is used, not the default', () => {
    expect(loadConfig({ x: 'a${V:zz}b' }, { env: { V: '' } })['x']).toBe('ab');
  });

  it('substitutes in nested mappings, lists and object input', () => {
    const config = loadConfig(
      { POOL: { threads: '${THREADS}' }, LOGGING: { level: '${LVL:warn}' }, extra: { list: ['${A}', 'x-${A}'] } },
      { env: { THREADS: '2', A: '5' } },
    );
    expect(config.POOL.threads).toBe(2);
    expect(config.LOGGING.level).toBe('warn');
    expect(config['extra']).toEqual({ list: [5, 'x-5'] });
  });

  it('does not mutate the object it is given', () => {
    const input = { POOL: { threads: '${T:4}' } };
    loadConfig(input, { env: {} });
    expect(input).toEqual({ POOL: { threads: '${T:4}' } });
  });

  it('a missing variable without default is ENOKI_ERR_CONFIG_VAR naming key, file and variable', async () => {
    const path = await file('POOL:\n  threads: ${POOL_THREADS}\n');
    const err = thrown(() => loadConfig(path, { env: {} }), 'ENOKI_ERR_CONFIG_VAR');
    expect(err.message).toContain('POOL.threads');
    expect(err.message).toContain(path);
    expect(err.message).toContain('POOL_THREADS');
    const fromObject = thrown(() => loadConfig({ list: ['a', 'b-${NOPE}'] }, { env: {} }), 'ENOKI_ERR_CONFIG_VAR');
    expect(fromObject.message).toContain('list[1]');
    expect(fromObject.message).toContain('<object>');
  });

  it('does not find Object.prototype members as variables', () => {
    thrown(() => loadConfig({ x: '${constructor}' }, { env: {} }), 'ENOKI_ERR_CONFIG_VAR');
    thrown(() => loadConfig({ x: '${toString}' }, { env: {} }), 'ENOKI_ERR_CONFIG_VAR');
  });

  it('reads process.env by default', () => {
    const name = `ENOKI_TEST_${process.pid}`;
    process.env[name] = '6';
    try {
      expect(loadConfig({ max_workers: `\${${name}}` }).max_workers).toBe(6);
    } finally {
      delete process.env[name];
    }
  });

  it("understands nameko's !env_var and !raw_env_var tags", async () => {
    const path = await file('a: !env_var ${PIN:0123}\nb: !raw_env_var ${PIN:0123}\nc: !raw_env_var ${N}\n');
    const config = loadConfig(path, { env: { N: '42' } });
    expect(config['a']).toBe(123);
    expect(config['b']).toBe('0123');
    expect(config['c']).toBe('42');
  });
});

describe('AMQP_URI', () => {
  it('normalises pyamqp:// to amqp://', () => {
    expect(loadConfig({ AMQP_URI: 'pyamqp://guest:guest@localhost' }).AMQP_URI).toBe('amqp://guest:guest@localhost');
    expect(loadConfig({ AMQP_URI: 'PYAMQP://h:5672/' }).AMQP_URI).toBe('amqp://h:5672/');
  });

  it('accepts amqps:// and memory://', () => {
    expect(loadConfig({ AMQP_URI: 'amqps://h/' }).AMQP_URI).toBe('amqps://h/');
    expect(loadConfig({ AMQP_URI: 'memory://' }).AMQP_URI).toBe('memory://');
  });

  it.each(['http://u:pw-secret@h/', 'localhost:5672', 'amqp://u:pw-secret@h:99999/', 'amqp://u:pw/secret@h:notaport/'])(
    'rejects %s without printing the password',
    (uri) => {
      const err = thrown(() => loadConfig({ AMQP_URI: uri }), 'ENOKI_ERR_CONFIG_INVALID');
      expect(err.message).toContain('AMQP_URI');
      expect(err.message).toContain('<object>');
      expect(err.message).not.toMatch(/pw-secret|pw\/secret/);
    },
  );
});

describe('validation', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['max_workers', { max_workers: 0 }, /integer >= 1, found 0/],
    ['max_workers', { max_workers: '10' }, /found the string "10"/],
    ['parent_calls_tracked', { parent_calls_tracked: -1 }, /integer >= 0/],
    ['HEARTBEAT', { HEARTBEAT: 1.5 }, /integer from 0 to 65535, found 1.5/],
    ['RPC_TIMEOUT', { RPC_TIMEOUT: 0 }, /> 0/],
    ['MAX_MESSAGE_SIZE', { MAX_MESSAGE_SIZE: 'big' }, /integer/],
    ['INCLUDE_REMOTE_STACK', { INCLUDE_REMOTE_STACK: 'yes' }, /true or false/],
    ['rpc_exchange', { rpc_exchange: '' }, /non-empty string/],
    ['WEB_SERVER_ADDRESS', { WEB_SERVER_ADDRESS: 'localhost' }, /host:port/],
    ['LOGGING', { LOGGING: 'loud' }, /log level/],
    ['LOGGING.level', { LOGGING: { level: 10 } }, /log level .* found 10/],
    ['LOGGING.pretty', { LOGGING: { pretty: 'yes' } }, /"auto", true or false/],
    ['LOGGING.root.level', { LOGGING: { version: 1, root: { level: 'LOUD' } } }, /log level/],
    ['LOGGING.colour', { LOGGING: { colour: true } }, /unknown key/],
    ['POOL', { POOL: 4 }, /a mapping, found 4/],
    ['POOL.threads', { POOL: { threads: 0 } }, /integer >= 1/],
    ['POOL.idle_timeout', { POOL: { idle_timeout: -1 } }, />= 0/],
    ['POOL.max_queue', { POOL: { max_queue: 'lots' } }, /"auto" or an integer/],
    ['POOL.max_memory_mb', { POOL: { max_memory_mb: 0 } }, /> 0, or null/],
    ['POOL.shutdown_grace', { POOL: { shutdown_grace: [] } }, /found a list/],
    ['POOL.idleTimeout', { POOL: { idleTimeout: 3 } }, /did you mean idle_timeout/],
    ['AMQP_SSL', { AMQP_SSL: 'on' }, /a mapping/],
    ['AMQP_SSL.reject_unauthorized', { AMQP_SSL: { reject_unauthorized: 'no' } }, /true or false/],
    ['AMQP_SSL.cert_reqs', { AMQP_SSL: { cert_reqs: 7 } }, /CERT_REQUIRED/],
    ['AMQP_SSL.ca_certs', { AMQP_SSL: { ca: 'a', ca_certs: 'b' } }, /give only one/],
    ['amqp_uri', { amqp_uri: 'amqp://h' }, /did you mean AMQP_URI/],
  ];

  it.each(cases)('%s: names the key and <object>', (key, input, detail) => {
    const err = thrown(() => loadConfig(input), 'ENOKI_ERR_CONFIG_INVALID');
    expect(err.message).toContain(`invalid config ${key} in <object>:`);
    expect(err.message).toMatch(detail);
    expect(err.retryable).toBe(false);
  });

  it.each(cases)('%s: names the file', async (key, input) => {
    const path = await file(yaml.dump(input));
    const err = thrown(() => loadConfig(path), 'ENOKI_ERR_CONFIG_INVALID');
    expect(err.message).toContain(`invalid config ${key} in ${path}:`);
  });

  it('never prints the AMQP password, whatever key is wrong', () => {
    const secret = 'Tr0ub4dor&3';
    for (const input of [
      { AMQP_URI: `amqp://svc:${secret}@h/`, max_workers: secret },
      { AMQP_URI: `amqp://svc:${encodeURIComponent(secret)}@h/`, rpc_exchange: [secret], LOGGING: secret },
      { AMQP_URI: `amqp://svc:${secret}@h/`, LOGGING: { destination: 5 }, note: secret, POOL: { max_queue: `q-${secret}` } },
      { AMQP_URI: `ftp://svc:${secret}@h/` },
      { AMQP_URI: `amqp://svc:${secret}/x@h/` },
    ]) {
      const err = thrown(() => loadConfig(input), 'ENOKI_ERR_CONFIG_INVALID');
      expect(err.message).not.toContain(secret);
      expect(err.message).not.toContain(encodeURIComponent(secret));
    }
  });

  it('hides the TLS passphrase when it has the wrong type', () => {
    const err = thrown(() => loadConfig({ AMQP_SSL: { passphrase: 987654321 } }), 'ENOKI_ERR_CONFIG_INVALID');
    expect(err.message).toContain('AMQP_SSL.passphrase');
    expect(err.message).not.toContain('987654321');
  });
});

describe('LOGGING', () => {
  it('a plain string sets the level', () => {
    expect(loadConfig({ LOGGING: 'debug' }).LOGGING).toEqual({ level: 'debug', destination: 'stderr', pretty: 'auto' });
    expect(loadConfig({ LOGGING: 'WARNING' }).LOGGING.level).toBe('warn');
  });

  it('a nameko dictConfig gives its root level, the rest defaults', async () => {
    const path = await file(`
LOGGING:
  version: 1
  handlers:
    console:
      class: logging.StreamHandler
  root:
    level: DEBUG
    handlers: [console]
`);
    expect(loadConfig(path).LOGGING).toEqual({ level: 'debug', destination: 'stderr', pretty: 'auto' });
    expect(loadConfig({ LOGGING: { version: 1, root: { level: 'CRITICAL' } } }).LOGGING.level).toBe('fatal');
    expect(loadConfig({ LOGGING: { version: 1, root: { level: 'Warning' } } }).LOGGING.level).toBe('warn');
    expect(loadConfig({ LOGGING: { version: 1 } }).LOGGING.level).toBe('info');
  });
});

describe('AMQP_SSL', () => {
  it('true means TLS with defaults; false means none', () => {
    expect(loadConfig({ AMQP_SSL: true }).AMQP_SSL).toEqual({ rejectUnauthorized: true });
    expect(loadConfig({ AMQP_SSL: false }).AMQP_SSL).toBeNull();
  });

  it("reads nameko's Python ssl key names", () => {
    const ssl = loadConfig({ AMQP_SSL: { ca_certs: 'ca.pem', certfile: 'c.pem', keyfile: 'k.pem', cert_reqs: 0 } }).AMQP_SSL;
    expect(ssl).toEqual({ ca: 'ca.pem', cert: 'c.pem', key: 'k.pem', rejectUnauthorized: false });
    expect(loadConfig({ AMQP_SSL: { cert_reqs: 'CERT_REQUIRED' } }).AMQP_SSL?.rejectUnauthorized).toBe(true);
  });
});

describe('unknown keys', () => {
  it('are kept, substituted, for user code', async () => {
    const path = await file('DATABASE:\n  host: ${DB_HOST:db}\n  port: 5432\nFEATURES: [a, b]\n');
    const config = loadConfig(path, { env: {} });
    expect(config['DATABASE']).toEqual({ host: 'db', port: 5432 });
    expect(config['FEATURES']).toEqual(['a', 'b']);
  });

  it('a __proto__ or constructor.prototype key, at any depth, is refused naming where (user code may merge a section)', async () => {
    for (const [text, where] of [
      ['__proto__: { polluted: true }\n', '__proto__'],
      ['DATABASE:\n  options: { "__proto__": { admin: true } }\n', 'DATABASE.options.__proto__'],
      ['FEATURES:\n  - constructor: { prototype: { admin: true } }\n', 'FEATURES[0].constructor.prototype'],
    ] as const) {
      const path = await file(text);
      expect(() => loadConfig(path, { env: {} }), text).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_CONFIG_INVALID', message: expect.stringContaining(where) }));
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('environment values that parse to such a key, escaped JSON included, are refused the same way', async () => {
    const escaped = '{"\\u005f_proto__": {"polluted": true}}';
    const path = await file('DATABASE: ${DB_OPTIONS}\n');
    expect(() => loadConfig(path, { env: { DB_OPTIONS: escaped } })).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_CONFIG_INVALID', message: expect.stringContaining('DATABASE.__proto__') }));
    expect(() => loadConfig(path, { env: { DB_OPTIONS: '{}', LOGGING_LEVEL: escaped } })).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_CONFIG_INVALID', message: expect.stringContaining('LOGGING.level.__proto__') }));
    expect(loadConfig(path, { env: { DB_OPTIONS: '{"name": "__proto__"}' } }).DATABASE).toEqual({ name: '__proto__' });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('a WEB_SERVER_ADDRESS given as a bare port gets the default host', () => {
    expect(loadConfig({ WEB_SERVER_ADDRESS: '${PORT:8001}' }, { env: {} }).WEB_SERVER_ADDRESS).toBe('0.0.0.0:8001');
  });
});

describe('maskUri', () => {
  it.each([
    ['amqp://guest:secret@h:5672/v', 'amqp://guest:***@h:5672/v'],
    ['amqps://u:p%40ss@h/', 'amqps://u:***@h/'],
    ['pyamqp://u:pw@h', 'pyamqp://u:***@h'],
    ['memory://u:pw@x', 'memory://u:***@x'],
    ['amqp://:pw@h/', 'amqp://:***@h/'],
    ['amqp://guest@h:5672/v', 'amqp://guest@h:5672/v'],
    ['amqp://h:5672/v', 'amqp://h:5672/v'],
    ['amqp://h:5672/v@x', 'amqp://h:5672/v@x'],
    ['memory://', 'memory://'],
    // Not parseable (unencoded '/' in the password): still masked.
    ['amqp://u:a/b@h/', 'amqp://u:***@h/'],
  ])('%s -> %s', (uri, masked) => {
    expect(maskUri(uri)).toBe(masked);
  });
});

describe('showConfig', () => {
  it('prints YAML in config-file spelling that loads back to the same config', () => {
    const config = loadConfig({ AMQP_URI: 'amqp://rabbit:5672/', POOL: { threads: 2, idle_timeout: 1 }, AMQP_SSL: { ca: 'ca.pem' }, extra: { a: 1 } });
    const text = showConfig(config);
    expect(text).toContain('idle_timeout: 1');
    expect(text).toContain('reject_unauthorized: true');
    expect(loadConfig(yaml.load(text) as Record<string, unknown>)).toEqual(config);
  });

  it('masks the AMQP password, the TLS passphrase and secret-named keys at any depth', () => {
    const config = loadConfig({
      AMQP_URI: 'amqp://svc:hunter22@h/',
      AMQP_SSL: { passphrase: 'pp-value' },
      DB: { url: 'postgres://app:dbpw-value@db/app', nested: [{ api_token: 'tok-value' }], PASSWORD: 'pw-value' },
      client_secret: 'cs-value',
      empty_password: null,
    });
    const text = showConfig(config);
    for (const secret of ['hunter22', 'pp-value', 'dbpw-value', 'tok-value', 'pw-value', 'cs-value']) expect(text).not.toContain(secret);
    const shown = yaml.load(text) as Record<string, any>;
    expect(shown['AMQP_URI']).toBe('amqp://svc:***@h/');
    expect(shown['AMQP_SSL'].passphrase).toBe('***');
    expect(shown['DB']).toEqual({ url: 'postgres://app:***@db/app', nested: [{ api_token: '***' }], PASSWORD: '***' });
    expect(shown['client_secret']).toBe('***');
    expect(shown['empty_password']).toBeNull();
    // The config itself is untouched.
    expect(config.AMQP_URI).toBe('amqp://svc:hunter22@h/');
  });
});
