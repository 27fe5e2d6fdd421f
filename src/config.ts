// enoki's config: nameko's config.yaml keys and `${VAR:default}` substitution, plus enoki's
// own sections (LOGGING, POOL, AMQP_SSL). A config is a plain value made per load and handed
// down explicitly; there is no process-wide config object to mutate (nameko's `config`
// global is the thing we avoid).
//
// Secrets: config files hold broker passwords. No error message built here includes raw
// file text, and the AMQP password is scrubbed from every validation message, so a
// misconfigured deployment cannot leak its credentials into logs.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import yaml from 'js-yaml';
import { EnokiError } from './errors.js';

/**
 * A pino log level. In config.yaml, Python's names are read too: `warning` is warn,
 * `critical` is fatal, `notset` is trace (numbers are refused: Python and pino disagree).
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * The LOGGING section, as loaded. In config.yaml it is a level (`LOGGING: debug`), a
 * mapping of these keys, or a nameko `logging.dictConfig` (of which only the root level is
 * read). Default: `{ level: info, destination: stderr, pretty: auto }`.
 */
export interface LoggingConfig {
  /** Default `'info'`. */
  level: LogLevel;
  /** 'stderr' (default), 'stdout', or a file path (its directories are created). */
  destination: 'stderr' | 'stdout' | (string & {});
  /** 'auto' (default) = pretty when the destination is a TTY, JSON lines otherwise. */
  pretty: 'auto' | boolean;
}

/**
 * The POOL section, as loaded: the worker-thread pool that runs `@cpuBound` methods. Keys
 * are camelCase here and snake_case in config.yaml (`idle_timeout`, `max_queue`,
 * `max_memory_mb`, `shutdown_grace`).
 */
export interface PoolConfig {
  /** Threads in the pool; default: the machine's available parallelism (CPU count). */
  threads: number;
  /** Seconds an idle pool thread lives before it is ended (default 60). */
  idleTimeout: number;
  /**
   * Tasks that may wait for a free thread; past it, calls fail with `ENOKI_ERR_POOL_FULL`.
   * `'auto'` (default) sets no cap, since each service already admits at most `max_workers` calls.
   */
  maxQueue: number | 'auto';
  /**
   * Heap limit per thread, in MB: a thread over it dies, its call fails with
   * `ENOKI_ERR_WORKER_DIED`, and the pool replaces it. Default null: no limit of enoki's.
   */
  maxMemoryMb: number | null;
  /**
   * Seconds running pool tasks get to finish at shutdown before their threads are ended
   * (default 30); also how long a stop waits for an unreachable broker before it drops
   * the replies it cannot send (see ServiceContainer.dropRepliesIfBrokerStaysDown).
   */
  shutdownGrace: number;
}

/**
 * The AMQP_SSL section, as loaded: TLS for the broker connection. ca, cert and key are
 * file paths. When set, an amqp:// URI is connected with TLS too, as kombu does for
 * nameko. config.yaml may use nameko's Python names instead (`ca_certs`, `certfile`,
 * `keyfile`, `cert_reqs`); `AMQP_SSL: true` means TLS with no files of its own.
 */
export interface TlsConfig {
  /** CA certificate file that the server's certificate must chain to. */
  ca?: string;
  /** Client certificate file. */
  cert?: string;
  /** Client private key file. */
  key?: string;
  /** Passphrase of the private key (masked by `show-config`). */
  passphrase?: string;
  /** Refuse a server whose certificate does not verify (default true; `cert_reqs: CERT_NONE` sets false). */
  rejectUnauthorized: boolean;
}

/**
 * A loaded config: config.yaml's keys with `${VAR}` substituted, values checked and
 * defaults applied, as {@link loadConfig} returns it. Keys enoki does not know are kept
 * for user code (`config.DATABASE_URL`).
 */
export interface EnokiConfig {
  /**
   * amqp://, amqps:// or memory:// (pyamqp:// is accepted and normalised to amqp://);
   * default `amqp://guest:guest@localhost:5672/`.
   */
  AMQP_URI: string;
  /** `host:port` where `@http` entrypoints listen (a bare port means host 0.0.0.0); default `0.0.0.0:8000`. */
  WEB_SERVER_ADDRESS: string;
  /** Topic exchange for requests and replies; default `nameko-rpc` (keep it to share a broker with nameko). */
  rpc_exchange: string;
  /** Concurrent calls per service, also its queue's prefetch; default 10. */
  max_workers: number;
  /** Parent call ids kept in `nameko.call_id_stack`, besides the current one; default 10. */
  parent_calls_tracked: number;
  /** Seconds; 0 disables AMQP heartbeats. Default 60. */
  HEARTBEAT: number;
  /** Default client call timeout in seconds; null (the default) = wait forever. */
  RPC_TIMEOUT: number | null;
  /** Largest request body accepted (an RPC message, an HTTP request body), in bytes; default 4194304 (4 MiB). */
  MAX_MESSAGE_SIZE: number;
  /** Send the JS stack in error replies (callers see `RemoteError.remoteStack`); default false. */
  INCLUDE_REMOTE_STACK: boolean;
  /** Log level, destination and format. */
  LOGGING: LoggingConfig;
  /** The worker-thread pool for `@cpuBound` methods. */
  POOL: PoolConfig;
  /** TLS for the broker connection; null (the default) when not configured. */
  AMQP_SSL: TlsConfig | null;
  /** Keys enoki does not know are kept (after substitution) for user code. */
  readonly [key: string]: unknown;
}

/** Options of {@link loadConfig}. */
export interface LoadOptions {
  /** Where `${VAR}` is looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

type Frozen<T> = { readonly [K in keyof T]: T[K] extends object | null ? Readonly<T[K]> : T[K] };

function defaults(): EnokiConfig {
  return {
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
  };
}

export const DEFAULT_CONFIG: Frozen<EnokiConfig> = deepFreeze(defaults());

const KNOWN_KEYS = Object.keys(DEFAULT_CONFIG);
const OBJECT_SOURCE = '<object>';
const MASK = '***';
const SECRET_KEY = /password|secret|token|passphrase/i;

// --- Environment substitution ----------------------------------------------------------

const ENV_VAR = /\$\{([^}{:]+)(?::([^}{]*))?\}/g;
const WHOLE_ENV_VAR = new RegExp(`^${ENV_VAR.source}$`);

// nameko configs may tag scalars explicitly: `!env_var` behaves like an untagged scalar,
// `!raw_env_var` is interpolated but never YAML-parsed (keeps `${PIN}` = "0123" a string).
// Without these types js-yaml would reject such a nameko config.yaml outright.
class TaggedScalar {
  constructor(
    readonly text: string,
    readonly raw: boolean,
  ) {}
}

const FILE_SCHEMA = yaml.DEFAULT_SCHEMA.extend([
  new yaml.Type('!env_var', { kind: 'scalar', construct: (data: unknown) => new TaggedScalar(String(data ?? ''), false) }),
  new yaml.Type('!raw_env_var', { kind: 'scalar', construct: (data: unknown) => new TaggedScalar(String(data ?? ''), true) }),
]);

interface Context {
  readonly source: string;
  readonly env: NodeJS.ProcessEnv;
  /** Strings to scrub from error messages (the AMQP password, raw and decoded). */
  secrets: string[];
}

function substitute(node: unknown, path: string, ctx: Context): unknown {
  if (typeof node === 'string') return substituteText(node, false, path, ctx);
  if (node instanceof TaggedScalar) return substituteText(node.text, node.raw, path, ctx);
  if (Array.isArray(node)) return node.map((item, i) => substitute(item, `${path}[${i}]`, ctx));
  if (isPlainObject(node)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) setOwn(out, key, substitute(value, path === '' ? key : `${path}.${key}`, ctx));
    return out;
  }
  // Dates, numbers, class instances handed in by code: nothing to substitute.
  return node;
}

function substituteText(text: string, raw: boolean, path: string, ctx: Context): unknown {
  const lookup = (name: string, fallback: string | undefined): string => {
    // Object.hasOwn: a variable called `constructor` must not find Object.prototype's.
    const value = Object.hasOwn(ctx.env, name) ? ctx.env[name] : undefined;
    if (value !== undefined) return value;
    if (fallback !== undefined) return fallback;
    throw new EnokiError('ENOKI_ERR_CONFIG_VAR', [path, ctx.source, name]);
  };
  const whole = raw ? null : WHOLE_ENV_VAR.exec(text);
  if (whole) return parseScalar(lookup(whole[1]!, whole[2]));
  return text.replace(ENV_VAR, (_match, name: string, fallback: string | undefined) => lookup(name, fallback));
}

// The whole scalar was one `${...}`: give it YAML's type, as nameko does, so `${PORT:5672}`
// is a number and `${X:null}` is null. A value that is not valid YAML (a password such as
// `a: b: c`) stays the string it was rather than failing the load.
function parseScalar(text: string): unknown {
  try {
    const value = yaml.load(text, { schema: yaml.DEFAULT_SCHEMA });
    return value === undefined ? null : value;
  } catch {
    return text;
  }
}

// --- URIs and masking --------------------------------------------------------------------

/** Index range [start, end) of the password in a URI's userinfo, or null when it has none. */
function passwordSpan(uri: string): [number, number] | null {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(uri);
  const start = scheme ? scheme[0].length : 0;
  // For a URI the WHATWG parser accepts, userinfo ends at the last '@' before the path.
  // For one it rejects (often an unencoded '/' or '#' in the password) take the last '@'
  // anywhere: masking too much beats printing a password in an error message.
  let end = uri.length;
  if (scheme && URL.canParse(uri)) {
    const slash = uri.slice(start).search(/[/?#]/);
    if (slash >= 0) end = start + slash;
  }
  const at = uri.lastIndexOf('@', end - 1);
  if (at < start) return null;
  const colon = uri.indexOf(':', start);
  if (colon < 0 || colon > at) return null;
  return [colon + 1, at];
}

/** `amqp://guest:secret@h:5672/v` → `amqp://guest:***@h:5672/v`; URIs without a password are returned unchanged. */
export function maskUri(uri: string): string {
  const span = passwordSpan(uri);
  return span ? uri.slice(0, span[0]) + MASK + uri.slice(span[1]) : uri;
}

function uriSecrets(uri: string): string[] {
  const span = passwordSpan(uri);
  if (!span) return [];
  const raw = uri.slice(span[0], span[1]);
  const found = [raw];
  try {
    const decoded = decodeURIComponent(raw);
    if (decoded !== raw) found.push(decoded);
  } catch {
    // Not valid percent-encoding: the raw form is all there is to scrub.
  }
  // Scrubbing a one- or two-character "password" would shred the message and hide nothing.
  return found.filter((s) => s.length >= 3);
}

const URI_SCHEMES = new Set(['amqp', 'amqps', 'pyamqp', 'memory']);

// --- Validation --------------------------------------------------------------------------

function invalid(ctx: Context, path: string, detail: string): EnokiError {
  let safe = detail;
  for (const secret of ctx.secrets) safe = safe.split(secret).join(MASK);
  return new EnokiError('ENOKI_ERR_CONFIG_INVALID', [path, ctx.source, safe]);
}

function describe(value: unknown, hide = false): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object') return 'a mapping';
  if (hide) return `a ${typeof value} (value hidden)`;
  if (typeof value === 'string') {
    const shown = maskUri(value);
    return `the string ${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 77)}...` : shown)}`;
  }
  return String(value);
}

function fail(ctx: Context, path: string, expected: string, found: unknown, hide = false): never {
  throw invalid(ctx, path, `expected ${expected}, found ${describe(found, hide)}`);
}

function integer(ctx: Context, path: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    fail(ctx, path, `an integer ${range}`, value);
  }
  return value;
}

function seconds(ctx: Context, path: string, value: unknown, positive: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (positive && value === 0)) {
    fail(ctx, path, positive ? 'a number of seconds > 0' : 'a number of seconds >= 0', value);
  }
  return value;
}

function boolean(ctx: Context, path: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(ctx, path, 'true or false', value);
  return value;
}

function text(ctx: Context, path: string, value: unknown, hide = false): string {
  if (typeof value !== 'string' || value === '') fail(ctx, path, 'a non-empty string', value, hide);
  return value;
}

/** A section's own keys, after rejecting keys it does not have (a typo there is a silent misconfig). */
function section(ctx: Context, path: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(value)) fail(ctx, path, 'a mapping', value);
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const hint = snake !== key && allowed.includes(snake) ? ` (did you mean ${snake}? keys in config are snake_case)` : '';
    throw invalid(ctx, `${path}.${key}`, `unknown key${hint}; expected one of ${allowed.join(', ')}`);
  }
  return value;
}

// null (an empty YAML value, or `${VAR:}` with VAR unset) means "not set": the default applies.
function given(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function amqpUri(ctx: Context, value: unknown): string {
  const uri = text(ctx, 'AMQP_URI', value);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1]?.toLowerCase();
  if (!scheme || !URI_SCHEMES.has(scheme) || !URL.canParse(uri)) {
    fail(ctx, 'AMQP_URI', 'an amqp://, amqps://, pyamqp:// or memory:// URI', uri);
  }
  // pyamqp:// is kombu's name for its py-amqp transport; on the wire it is plain AMQP.
  return scheme === 'pyamqp' ? `amqp${uri.slice('pyamqp'.length)}` : uri;
}

function webAddress(ctx: Context, value: unknown): string {
  // nameko accepts a bare port; a `${PORT:8000}` scalar arrives here as a number.
  const address = typeof value === 'number' ? String(value) : value;
  if (typeof address === 'string') {
    const match = /^(?:(.+):)?(\d{1,5})$/.exec(address);
    if (match && Number(match[2]) <= 65535) return match[1] === undefined ? `0.0.0.0:${match[2]}` : address;
  }
  return fail(ctx, 'WEB_SERVER_ADDRESS', 'an address "host:port" or a port', value);
}

const LEVELS: Readonly<Record<string, LogLevel>> = {
  trace: 'trace',
  notset: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  critical: 'fatal',
  silent: 'silent',
};

function logLevel(ctx: Context, path: string, value: unknown): LogLevel {
  // Numbers are refused: Python (10 = DEBUG) and pino (10 = trace) disagree on what they mean.
  const level = typeof value === 'string' && Object.hasOwn(LEVELS, value.toLowerCase()) ? LEVELS[value.toLowerCase()] : undefined;
  if (level === undefined) fail(ctx, path, `a log level (${Object.keys(LEVELS).join(', ')})`, value);
  return level;
}

const DICT_CONFIG_KEYS = ['version', 'root', 'loggers', 'handlers', 'formatters', 'filters', 'incremental', 'disable_existing_loggers'];

function logging(ctx: Context, value: unknown, base: LoggingConfig): LoggingConfig {
  const out = { ...base };
  if (!given(value)) return out;
  if (typeof value === 'string') {
    out.level = logLevel(ctx, 'LOGGING', value);
    return out;
  }
  if (!isPlainObject(value)) return fail(ctx, 'LOGGING', 'a log level or a mapping', value);
  if (DICT_CONFIG_KEYS.some((key) => Object.hasOwn(value, key))) {
    // A nameko config's Python logging.dictConfig: handlers and formatters name Python
    // classes we cannot honour, so only the root level carries over.
    const root = value['root'];
    if (given(root)) {
      if (!isPlainObject(root)) fail(ctx, 'LOGGING.root', 'a mapping', root);
      if (given(root['level'])) out.level = logLevel(ctx, 'LOGGING.root.level', root['level']);
    }
    return out;
  }
  const own = section(ctx, 'LOGGING', value, ['level', 'destination', 'pretty']);
  if (given(own['level'])) out.level = logLevel(ctx, 'LOGGING.level', own['level']);
  if (given(own['destination'])) out.destination = text(ctx, 'LOGGING.destination', own['destination']);
  if (given(own['pretty'])) {
    const pretty = own['pretty'];
    if (pretty !== 'auto' && typeof pretty !== 'boolean') fail(ctx, 'LOGGING.pretty', '"auto", true or false', pretty);
    out.pretty = pretty;
  }
  return out;
}

function pool(ctx: Context, value: unknown, base: PoolConfig): PoolConfig {
  const out = { ...base };
  if (!given(value)) return out;
  const own = section(ctx, 'POOL', value, ['threads', 'idle_timeout', 'max_queue', 'max_memory_mb', 'shutdown_grace']);
  if (given(own['threads'])) out.threads = integer(ctx, 'POOL.threads', own['threads'], 1);
  if (given(own['idle_timeout'])) out.idleTimeout = seconds(ctx, 'POOL.idle_timeout', own['idle_timeout'], false);
  if (given(own['max_queue'])) {
    out.maxQueue = own['max_queue'] === 'auto' ? 'auto' : integerOr(ctx, 'POOL.max_queue', own['max_queue'], '"auto" or an integer >= 0');
  }
  if (Object.hasOwn(own, 'max_memory_mb')) {
    const mb = own['max_memory_mb'];
    if (mb !== null && (typeof mb !== 'number' || !Number.isFinite(mb) || mb <= 0)) fail(ctx, 'POOL.max_memory_mb', 'a number of MB > 0, or null', mb);
    out.maxMemoryMb = mb;
  }
  if (given(own['shutdown_grace'])) out.shutdownGrace = seconds(ctx, 'POOL.shutdown_grace', own['shutdown_grace'], false);
  return out;
}

function integerOr(ctx: Context, path: string, value: unknown, expected: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(ctx, path, expected, value);
  return value;
}

// nameko's AMQP_SSL uses Python ssl names (ca_certs, certfile, keyfile, cert_reqs); both
// spellings are read so a nameko config.yaml keeps working.
const TLS_ALIASES: Readonly<Record<string, 'ca' | 'cert' | 'key'>> = { ca_certs: 'ca', certfile: 'cert', keyfile: 'key' };

function amqpSsl(ctx: Context, value: unknown): TlsConfig | null {
  if (!given(value) || value === false) return null;
  if (value === true) return { rejectUnauthorized: true };
  const own = section(ctx, 'AMQP_SSL', value, ['ca', 'cert', 'key', 'passphrase', 'reject_unauthorized', ...Object.keys(TLS_ALIASES), 'cert_reqs']);
  const out: TlsConfig = { rejectUnauthorized: true };
  for (const name of ['ca', 'cert', 'key'] as const) {
    const alias = Object.keys(TLS_ALIASES).find((a) => TLS_ALIASES[a] === name)!;
    if (given(own[name]) && given(own[alias])) throw invalid(ctx, `AMQP_SSL.${alias}`, `${alias} and ${name} are the same setting; give only one`);
    const key = given(own[name]) ? name : alias;
    if (given(own[key])) out[name] = text(ctx, `AMQP_SSL.${key}`, own[key]);
  }
  if (given(own['passphrase'])) out.passphrase = text(ctx, 'AMQP_SSL.passphrase', own['passphrase'], true);
  if (given(own['reject_unauthorized']) && given(own['cert_reqs'])) {
    throw invalid(ctx, 'AMQP_SSL.cert_reqs', 'cert_reqs and reject_unauthorized are the same setting; give only one');
  }
  if (given(own['reject_unauthorized'])) out.rejectUnauthorized = boolean(ctx, 'AMQP_SSL.reject_unauthorized', own['reject_unauthorized']);
  if (given(own['cert_reqs'])) {
    // Python's ssl.CERT_NONE = 0, CERT_OPTIONAL = 1, CERT_REQUIRED = 2.
    const reqs = own['cert_reqs'];
    const none = reqs === 0 || reqs === 'CERT_NONE';
    if (!none && ![1, 2, 'CERT_OPTIONAL', 'CERT_REQUIRED'].includes(reqs as never)) {
      fail(ctx, 'AMQP_SSL.cert_reqs', '0, 1, 2, CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED', reqs);
    }
    out.rejectUnauthorized = !none;
  }
  return out;
}

function validate(tree: Record<string, unknown>, ctx: Context): EnokiConfig {
  const out = defaults();
  const uri = tree['AMQP_URI'];
  // Learn the password first, so that no later message can repeat it.
  if (typeof uri === 'string') ctx.secrets = uriSecrets(uri);

  for (const key of Object.keys(tree)) {
    if (KNOWN_KEYS.includes(key)) continue;
    const known = KNOWN_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
    // `amqp_uri:` would otherwise be kept as a user key and enoki would quietly use the default broker.
    if (known) throw invalid(ctx, key, `unknown key; did you mean ${known}? config keys are case-sensitive`);
  }

  const v = (key: string): unknown => (Object.hasOwn(tree, key) ? tree[key] : undefined);
  if (given(v('AMQP_URI'))) out.AMQP_URI = amqpUri(ctx, v('AMQP_URI'));
  if (given(v('WEB_SERVER_ADDRESS'))) out.WEB_SERVER_ADDRESS = webAddress(ctx, v('WEB_SERVER_ADDRESS'));
  if (given(v('rpc_exchange'))) out.rpc_exchange = text(ctx, 'rpc_exchange', v('rpc_exchange'));
  if (given(v('max_workers'))) out.max_workers = integer(ctx, 'max_workers', v('max_workers'), 1);
  if (given(v('parent_calls_tracked'))) out.parent_calls_tracked = integer(ctx, 'parent_calls_tracked', v('parent_calls_tracked'), 0);
  // The AMQP heartbeat field is an unsigned short of whole seconds.
  if (given(v('HEARTBEAT'))) out.HEARTBEAT = integer(ctx, 'HEARTBEAT', v('HEARTBEAT'), 0, 65535);
  if (given(v('RPC_TIMEOUT'))) out.RPC_TIMEOUT = seconds(ctx, 'RPC_TIMEOUT', v('RPC_TIMEOUT'), true);
  if (given(v('MAX_MESSAGE_SIZE'))) out.MAX_MESSAGE_SIZE = integer(ctx, 'MAX_MESSAGE_SIZE', v('MAX_MESSAGE_SIZE'), 1);
  if (given(v('INCLUDE_REMOTE_STACK'))) out.INCLUDE_REMOTE_STACK = boolean(ctx, 'INCLUDE_REMOTE_STACK', v('INCLUDE_REMOTE_STACK'));
  out.LOGGING = logging(ctx, v('LOGGING'), out.LOGGING);
  out.POOL = pool(ctx, v('POOL'), out.POOL);
  out.AMQP_SSL = amqpSsl(ctx, v('AMQP_SSL'));

  for (const [key, value] of Object.entries(tree)) if (!KNOWN_KEYS.includes(key)) setOwn(out, key, value);
  return out;
}

// --- Loading -----------------------------------------------------------------------------

function readYaml(file: string): unknown {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw new EnokiError('ENOKI_ERR_CONFIG_FILE', [file, (err as Error).message], { cause: err });
  }
  try {
    return yaml.load(source, { schema: FILE_SCHEMA, filename: file });
  } catch (err) {
    if (!(err instanceof yaml.YAMLException)) throw err;
    // err.message quotes the lines around the error, which may be a password: keep only
    // the reason and the position, and do not chain the YAMLException as the cause.
    const where = err.mark ? ` at line ${err.mark.line + 1}, column ${err.mark.column + 1}` : '';
    throw new EnokiError('ENOKI_ERR_CONFIG_FILE', [file, `YAML syntax error${where}: ${err.reason}`]);
  }
}

/**
 * Resolve a config: from a YAML file path, from an already-parsed object, or (no argument)
 * the defaults. `${VAR}` / `${VAR:default}` in string values are replaced from `options.env`.
 * Always returns a new object; unknown top-level keys are kept for user code.
 */
export function loadConfig(source?: string | Record<string, unknown>, options: LoadOptions = {}): EnokiConfig {
  if (source === undefined) return defaults();
  const ctx: Context = { source: typeof source === 'string' ? source : OBJECT_SOURCE, env: options.env ?? process.env, secrets: [] };
  const parsed = typeof source === 'string' ? readYaml(source) : source;
  // An empty file is a config with nothing set.
  if (parsed === undefined || parsed === null) return defaults();
  if (!isPlainObject(parsed)) return fail(ctx, '(top level)', 'a mapping of config keys', parsed);
  return validate(substitute(parsed, '', ctx) as Record<string, unknown>, ctx);
}

// --- Showing -----------------------------------------------------------------------------

/** The resolved config as YAML in config-file spelling (loadable again), with secrets masked. */
export function showConfig(config: EnokiConfig): string {
  const ssl = config.AMQP_SSL;
  const shown: Record<string, unknown> = {
    AMQP_URI: config.AMQP_URI,
    WEB_SERVER_ADDRESS: config.WEB_SERVER_ADDRESS,
    rpc_exchange: config.rpc_exchange,
    max_workers: config.max_workers,
    parent_calls_tracked: config.parent_calls_tracked,
    HEARTBEAT: config.HEARTBEAT,
    RPC_TIMEOUT: config.RPC_TIMEOUT,
    MAX_MESSAGE_SIZE: config.MAX_MESSAGE_SIZE,
    INCLUDE_REMOTE_STACK: config.INCLUDE_REMOTE_STACK,
    LOGGING: { ...config.LOGGING },
    POOL: {
      threads: config.POOL.threads,
      idle_timeout: config.POOL.idleTimeout,
      max_queue: config.POOL.maxQueue,
      max_memory_mb: config.POOL.maxMemoryMb,
      shutdown_grace: config.POOL.shutdownGrace,
    },
    AMQP_SSL: ssl && {
      ...(ssl.ca !== undefined && { ca: ssl.ca }),
      ...(ssl.cert !== undefined && { cert: ssl.cert }),
      ...(ssl.key !== undefined && { key: ssl.key }),
      ...(ssl.passphrase !== undefined && { passphrase: ssl.passphrase }),
      reject_unauthorized: ssl.rejectUnauthorized,
    },
  };
  for (const [key, value] of Object.entries(config)) if (!KNOWN_KEYS.includes(key)) setOwn(shown, key, value);
  return yaml.dump(redact(shown), { noRefs: true, skipInvalid: true, lineWidth: -1 });
}

function redact(node: unknown): unknown {
  if (typeof node === 'string') return /^[a-z][a-z0-9+.-]*:\/\//i.test(node) ? maskUri(node) : node;
  if (Array.isArray(node)) return node.map(redact);
  if (!isPlainObject(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) setOwn(out, key, SECRET_KEY.test(key) && given(value) ? MASK : redact(value));
  return out;
}

// --- Helpers -----------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// Plain assignment of a key named `__proto__` would replace the prototype instead of
// keeping the user's key.
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
