// The config schema, written once: each key's type, default and what a wrong value is told
// it should be. The TypeScript type of a loaded config, loadConfig's validation and
// show-config all come from here. Keys are in config-file spelling (nameko's keys, enoki's
// sections in snake_case); a loaded config has its sections' keys in camelCase.
//
// Every `error` below is the "expected ..." half of a message; config.ts adds the key, the
// file and what was found: `invalid config POOL.threads in config.yaml: expected an
// integer >= 1, found 0`.

import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { amqpUri, type AmqpUriOrder, type QueueType } from './config-amqp-uri.js';
import { isPlainObject } from './config-substitute.js';
import { SERIALIZER_NAMES, type SerializerName } from './serializer.js';

/** A snake_case key in camelCase. */
type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
/** An object with its keys in camelCase. */
type CamelKeys<T> = { [K in keyof T as K extends string ? Camel<K> : K]: T[K] };

/** `idle_timeout` → `idleTimeout`. */
export function camelKey(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** `idleTimeout` → `idle_timeout`. */
export function snakeKey(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function camelKeys<T extends object>(value: T): CamelKeys<T> {
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) if (inner !== undefined) out[camelKey(key)] = inner;
  return out as CamelKeys<T>;
}

// null (an empty YAML value, or `${VAR:}` with VAR unset) means "not set": the default applies.
const notSet = (value: unknown): unknown => (value === null ? undefined : value);

/** `schema`, or `fallback()` when the key is missing or null. */
function setting<T extends z.ZodType, D extends z.output<T> | null = z.output<T>>(schema: T, fallback: () => D) {
  return z.preprocess(notSet, schema.optional()).transform((value): z.output<T> | D => (value === undefined ? fallback() : (value as z.output<T>)));
}

/** `schema`, or absent when missing or null (optional keys of a section). */
function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess(notSet, schema.optional());
}

/** Run `schema` on `value` inside another schema's transform, its issues reported at the current key. */
function delegate<T extends z.ZodType>(schema: T, value: unknown, ctx: z.RefinementCtx, key?: string): z.output<T> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  for (const issue of result.error.issues) ctx.addIssue({ ...issue, path: key === undefined ? issue.path : [key, ...issue.path] } as never);
  return z.NEVER;
}

function fail(ctx: z.RefinementCtx, expected: string, input: unknown, path: PropertyKey[] = []): never {
  ctx.addIssue({ code: 'custom', message: expected, input, path });
  return z.NEVER as never;
}

function integer(min: number, max?: number) {
  const error = max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  const base = z.number({ error }).int({ error }).min(min, { error });
  return max === undefined ? base : base.max(max, { error });
}

function seconds(positive: boolean) {
  const error = positive ? 'a number of seconds > 0' : 'a number of seconds >= 0';
  return positive ? z.number({ error }).positive({ error }) : z.number({ error }).min(0, { error });
}

const flag = z.boolean({ error: 'true or false' });
const text = z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' });

/** Log levels by every name a nameko or pino user may write (Python's names included). */
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

/** A pino log level. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** LOGGING, loaded. */
export interface LoggingConfig {
  level: LogLevel;
  /** 'stderr', 'stdout', or a file path. */
  destination: 'stderr' | 'stdout' | (string & {});
  /** 'auto' = pretty when the destination is a TTY. */
  pretty: 'auto' | boolean;
}

/** POOL, loaded: the thread pool of `@cpuBound` methods. */
export interface PoolConfig {
  threads: number;
  /** Seconds an idle pool thread lives before it is ended. */
  idleTimeout: number;
  /** Tasks waiting for a thread; 'auto' = no cap beyond max_workers per service. */
  maxQueue: number | 'auto';
  /** Heap limit per thread in MB; null = Node's default. */
  maxMemoryMb: number | null;
  /**
   * Seconds running pool tasks get to finish at shutdown before their threads are ended;
   * also how long a stop waits for an unreachable broker before it drops the replies it
   * cannot send.
   */
  shutdownGrace: number;
}

/** AMQP_SSL, loaded: TLS for amqps://. ca, cert and key are file paths. */
export interface TlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  passphrase?: string;
  rejectUnauthorized: boolean;
}

const LEVEL_EXPECTED = `a log level (${Object.keys(LEVELS).join(', ')})`;

// Numbers are refused: Python (10 = DEBUG) and pino (10 = trace) disagree on what they mean.
const level = z.any().transform((value: unknown, ctx): LogLevel => {
  const name = typeof value === 'string' ? value.toLowerCase() : undefined;
  if (name === undefined || !Object.hasOwn(LEVELS, name)) return fail(ctx, LEVEL_EXPECTED, value);
  return LEVELS[name]!;
});

const loggingSection = z
  .strictObject(
    {
      level: setting(level, (): LogLevel => 'info'),
      /** 'stderr', 'stdout', or a file path. */
      destination: setting(text, (): 'stderr' | 'stdout' | (string & {}) => 'stderr'),
      /** 'auto' = pretty when the destination is a TTY. */
      pretty: setting(z.custom<'auto' | boolean>((v) => v === 'auto' || typeof v === 'boolean', { error: '"auto", true or false' }), (): 'auto' | boolean => 'auto'),
    },
    { error: 'a mapping' },
  )
  .transform((own): LoggingConfig => camelKeys(own));

const DICT_CONFIG_KEYS = ['version', 'root', 'loggers', 'handlers', 'formatters', 'filters', 'incremental', 'disable_existing_loggers'];

// A nameko config's Python logging.dictConfig: handlers and formatters name Python classes
// we cannot honour, so only the root level carries over.
const dictConfig = z.looseObject({ root: optional(z.looseObject({ level: optional(level) }, { error: 'a mapping' })) });

const logging = z.any().transform((value: unknown, ctx): LoggingConfig => {
  if (typeof value === 'string') return { ...delegate(loggingSection, {}, ctx), level: delegate(level, value, ctx) };
  if (!isPlainObject(value)) return fail(ctx, 'a log level or a mapping', value);
  if (DICT_CONFIG_KEYS.some((key) => Object.hasOwn(value, key))) {
    const dict = delegate(dictConfig, value, ctx);
    return { ...delegate(loggingSection, {}, ctx), ...(dict.root?.level && { level: dict.root.level }) };
  }
  return delegate(loggingSection, value, ctx);
});

const pool = z
  .strictObject(
    {
      threads: setting(integer(1), () => availableParallelism()),
      /** Seconds an idle pool thread lives before it is ended. */
      idle_timeout: setting(seconds(false), () => 60),
      max_queue: setting(
        z.union([z.literal('auto'), z.number().int().min(0)], { error: '"auto" or an integer >= 0' }),
        (): number | 'auto' => 'auto',
      ),
      max_memory_mb: setting(z.number({ error: 'a number of MB > 0, or null' }).positive({ error: 'a number of MB > 0, or null' }), (): number | null => null),
      /**
       * Seconds running pool tasks get to finish at shutdown before their threads are ended;
       * also how long a stop waits for an unreachable broker before it drops the replies it
       * cannot send (see ServiceContainer.dropRepliesIfBrokerStaysDown).
       */
      shutdown_grace: setting(seconds(false), () => 30),
    },
    { error: 'a mapping' },
  )
  .transform((own): PoolConfig => camelKeys(own));

/** Drop keys whose value is undefined (`key: ~` in a section that has no default for it). */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, inner]) => inner !== undefined)) as T;
}

/**
 * The config's `HTTP` section, in config-file spelling: the web server's limits
 * (src/http/http-limits.ts resolves them, with their defaults). Declared here, with the
 * schema, so that config does not import the HTTP layer.
 */
export interface HttpLimitsConfig {
  /** Seconds a client has to send the request headers (default 10). */
  headers_timeout?: number;
  /** Seconds a client has to send the whole request, headers and body (default 30). */
  request_timeout?: number;
  /** Seconds an idle keep-alive connection stays open between requests (default 5). */
  keep_alive_timeout?: number;
  /** Largest request body in bytes (default: MAX_MESSAGE_SIZE, 4 MiB); larger gets 413. */
  max_body_size?: number;
  /** Largest request header block in bytes (default 16384, Node's); larger gets 431. */
  max_header_size?: number;
  /** Connections open at once; past it new ones are closed at once (default 0: no limit). */
  max_connections?: number;
}

// HTTP: the web server's limits (src/http/http-limits.ts has the defaults and reads this
// section as the file spells it, so it keeps snake_case when loaded).
const http = z
  .strictObject(
    {
      headers_timeout: optional(seconds(false)),
      request_timeout: optional(seconds(false)),
      keep_alive_timeout: optional(seconds(false)),
      max_body_size: optional(integer(1)),
      max_header_size: optional(integer(1)),
      max_connections: optional(integer(0)),
    },
    { error: 'a mapping' },
  )
  .transform((own): HttpLimitsConfig => defined(own));

/**
 * The keys of each enoki section, in file spelling: unknown keys there are errors, with a
 * "did you mean". A new section (events, timers) is a strictObject in CONFIG_SCHEMA plus its
 * keys here; config-env.ts then gives each key its SECTION_KEY variable.
 */
export const SECTION_KEYS = {
  LOGGING: Object.keys(loggingSection.in.shape),
  POOL: Object.keys(pool.in.shape),
  // nameko's AMQP_SSL uses Python ssl names (ca_certs, certfile, keyfile, cert_reqs); both
  // spellings are read so a nameko config.yaml keeps working.
  AMQP_SSL: ['ca', 'cert', 'key', 'passphrase', 'reject_unauthorized', 'ca_certs', 'certfile', 'keyfile', 'cert_reqs'],
  HTTP: Object.keys(http.in.shape),
} as const;

const TLS_ALIASES = { ca: 'ca_certs', cert: 'certfile', key: 'keyfile' } as const;
const CERT_REQS: Readonly<Record<string, boolean>> = { 0: false, CERT_NONE: false, 1: true, CERT_OPTIONAL: true, 2: true, CERT_REQUIRED: true };

const tlsSection = z
  .strictObject(Object.fromEntries(SECTION_KEYS.AMQP_SSL.map((key) => [key, optional(z.unknown())])), { error: 'a mapping' })
  .transform((own, ctx) => {
    const out: TlsConfig = { rejectUnauthorized: true };
    for (const [name, alias] of Object.entries(TLS_ALIASES) as Array<[keyof typeof TLS_ALIASES, string]>) {
      if (own[name] !== undefined && own[alias] !== undefined) return fail(ctx, `${alias} and ${name} are the same setting; give only one`, undefined, [alias]);
      const key = own[name] !== undefined ? name : alias;
      if (own[key] !== undefined) out[name] = delegate(text, own[key], ctx, key);
    }
    if (own['passphrase'] !== undefined) out.passphrase = delegate(text, own['passphrase'], ctx, 'passphrase');
    if (own['reject_unauthorized'] !== undefined && own['cert_reqs'] !== undefined) {
      return fail(ctx, 'cert_reqs and reject_unauthorized are the same setting; give only one', undefined, ['cert_reqs']);
    }
    if (own['reject_unauthorized'] !== undefined) out.rejectUnauthorized = delegate(flag, own['reject_unauthorized'], ctx, 'reject_unauthorized');
    const reqs = own['cert_reqs'];
    if (reqs !== undefined) {
      // Python's ssl.CERT_NONE = 0, CERT_OPTIONAL = 1, CERT_REQUIRED = 2.
      const verify = (typeof reqs === 'string' || typeof reqs === 'number') && Object.hasOwn(CERT_REQS, reqs) ? CERT_REQS[reqs] : undefined;
      if (verify === undefined) return fail(ctx, '0, 1, 2, CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED', reqs, ['cert_reqs']);
      out.rejectUnauthorized = verify;
    }
    return out;
  });

const amqpSsl = z.any().transform((value: unknown, ctx): TlsConfig | null => {
  if (value === false) return null;
  if (value === true) return { rejectUnauthorized: true };
  if (!isPlainObject(value)) return fail(ctx, 'a mapping', value);
  return delegate(tlsSection, value, ctx);
});

/** DELIVERY_MODE, loaded. */
export type DeliveryMode = 'persistent' | 'transient';

// kombu takes the names and the AMQP numbers alike.
const deliveryMode = z.any().transform((value: unknown, ctx): DeliveryMode => {
  if (value === 'persistent' || value === 2) return 'persistent';
  if (value === 'transient' || value === 1) return 'transient';
  return fail(ctx, '"persistent" (2) or "transient" (1)', value);
});

const webAddress = z.any().transform((value: unknown, ctx) => {
  // nameko accepts a bare port; a `${PORT:8000}` scalar arrives here as a number.
  const address = typeof value === 'number' ? String(value) : value;
  if (typeof address === 'string') {
    const match = /^(?:(.+):)?(\d{1,5})$/.exec(address);
    if (match && Number(match[2]) <= 65535) return match[1] === undefined ? `0.0.0.0:${match[2]}` : address;
  }
  return fail(ctx, 'an address "host:port" or a port', value);
});

// METRICS_ADDRESS: as WEB_SERVER_ADDRESS, but a host with a scheme or a path in it
// (`http://x:9100`) is refused rather than handed to listen() to fail later.
const metricsAddress = z.any().transform((value: unknown, ctx) => {
  if (typeof value === 'string' && /[/\s]/.test(value)) return fail(ctx, 'an address "host:port" or a port', value);
  return delegate(webAddress, value, ctx);
});

/** Every key enoki reads, in file spelling, with its default. */
export const CONFIG_SCHEMA = z.looseObject({
  /** amqp://, amqps:// or memory:// (pyamqp:// is accepted and normalised to amqp://). */
  AMQP_URI: setting(amqpUri, (): string | string[] => 'amqp://guest:guest@localhost:5672/'),
  /**
   * With an AMQP_URI list: `ordered` tries the URIs in list order (a reconnect starts
   * with the one after the URI it lost), `shuffled` in an order shuffled per round, so a
   * fleet of clients spreads over the nodes.
   */
  AMQP_URI_ORDER: setting(z.enum(['ordered', 'shuffled'], { error: '"ordered" or "shuffled"' }), (): AmqpUriOrder => 'ordered'),
  /**
   * The queue type of service queues: `classic` (nameko's) or `quorum` (replicated over a
   * RabbitMQ cluster's nodes, survives the loss of a minority of them). Reply queues stay classic.
   */
  QUEUE_TYPE: setting(z.enum(['classic', 'quorum'], { error: '"classic" or "quorum"' }), (): QueueType => 'classic'),
  WEB_SERVER_ADDRESS: setting(webAddress, () => '0.0.0.0:8000'),
  /**
   * Where a ServiceRunner (`enoki run`) serves `/metrics` (Prometheus) and `/health/live`,
   * `/health/ready`: "host:port" (a bare port listens on every interface); unset = off.
   * Its own server, never WEB_SERVER_ADDRESS's, so it is not exposed with the routes.
   */
  METRICS_ADDRESS: setting(metricsAddress, (): string | null => null),
  rpc_exchange: setting(text, () => 'nameko-rpc'),
  max_workers: setting(integer(1), () => 10),
  /**
   * RPC requests whose reply is on its way to the broker, awaiting its confirm, on top of
   * the max_workers running: the service queue's prefetch is the sum. 0 = nameko's
   * prefetch of max_workers (a worker is then held until its reply is confirmed).
   */
  MAX_PENDING_REPLIES: setting(integer(0), () => 128),
  parent_calls_tracked: setting(integer(0), () => 10),
  /** Seconds; 0 disables AMQP heartbeats. The AMQP field is an unsigned short. */
  HEARTBEAT: setting(integer(0, 65535), () => 60),
  /** Seconds startup waits for the broker, retrying what waiting can fix; 0 = forever. */
  STARTUP_TIMEOUT: setting(seconds(false), () => 60),
  /** Default client call timeout in seconds; null = wait forever. */
  RPC_TIMEOUT: setting(seconds(true), (): number | null => null),
  /** Bytes. */
  MAX_MESSAGE_SIZE: setting(integer(1), () => 4 * 1024 * 1024),
  /** Send the JS stack in error replies. */
  INCLUDE_REMOTE_STACK: setting(flag, () => false),
  /**
   * Body format of the requests, replies to requests without a content type enoki reads,
   * and events this process sends (nameko's key): 'json' or 'msgpack'. A reply always
   * uses its request's format.
   */
  SERIALIZER: setting(z.enum(SERIALIZER_NAMES, { error: '"json" or "msgpack"' }), (): SerializerName => 'json'),
  /** AMQP delivery mode of RPC requests and replies: 'persistent' (2, nameko's) or 'transient' (1). */
  DELIVERY_MODE: setting(deliveryMode, (): DeliveryMode => 'persistent'),
  /** Wait for the broker's confirm of each RPC request and reply before going on (nameko: always). */
  PUBLISH_CONFIRMS: setting(flag, () => true),
  LOGGING: setting(logging, (): LoggingConfig => ({ level: 'info', destination: 'stderr', pretty: 'auto' })),
  POOL: setting(pool, () => poolDefaults()),
  AMQP_SSL: setting(amqpSsl, (): TlsConfig | null => null),
  /** The web server's limits; absent = http-limits.ts's defaults. */
  HTTP: optional(http),
});

function poolDefaults(): PoolConfig {
  return pool.parse({});
}

/**
 * A loaded config: every key enoki reads, defaults filled in, sections' keys in camelCase
 * (`POOL.idleTimeout` for the file's `POOL.idle_timeout`). Keys enoki does not know are
 * kept (after substitution) for user code. config.yaml in the repository documents each key.
 */
export type EnokiConfig = z.output<typeof CONFIG_SCHEMA>;

/** The keys enoki reads at the top level. */
export const KNOWN_KEYS: readonly string[] = Object.keys(CONFIG_SCHEMA.shape);

/**
 * Keys whose values are secrets wherever they appear: show-config masks them, and invalid
 * values of such keys are not quoted. Masking a harmless value costs less than printing a
 * key: `STRIPE_API_KEY`, `JWT_PRIVATE_KEY`, `DB_PASSWD`, `apiKey` all match; `AMQP_SSL.key`
 * (a file path) and `CACHE_KEY_PREFIX` do not.
 */
export const SECRET_KEY = /passw(?:or)?d|(?:^|[^a-z])pwd(?:[^a-z]|$)|secret|token|passphrase|credential|api_?key|private_?key|access_?key|authorization/i;
