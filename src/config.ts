// enoki's config: nameko's config.yaml keys and `${VAR:default}` substitution, plus enoki's
// own sections (LOGGING, POOL, AMQP_SSL). A config is a plain value made per load and handed
// down explicitly; there is no process-wide config object to mutate (nameko's `config`
// global is the thing we avoid).
//
// What each key is lives in one place, config-schema.ts (zod); this file reads the sources
// in order (defaults < file < environment; flags are the CLI's) and turns the schema's
// findings into errors that name the key and where its value came from.
//
// Secrets: config files hold broker passwords. No error message built here includes raw
// file text, and the AMQP password is scrubbed from every validation message, so a
// misconfigured deployment cannot leak its credentials into logs.

import { findPoisonedKey } from './untrusted-json.js';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { applyEnvironment } from './config-env.js';
import { sectionKeyHint, unknownTopLevelKey } from './config-keys.js';
import { CONFIG_SCHEMA, KNOWN_KEYS, SECRET_KEY, SECTION_KEYS, type EnokiConfig } from './config-schema.js';
import { splitUriList } from './config-amqp-uri.js';
import { FILE_SCHEMA, isPlainObject, setOwn, substitute } from './config-substitute.js';
import { EnokiError } from './errors.js';
import { maskUri, SECRET_MASK, uriSecrets } from './uri-secrets.js';

export { maskUri, maskUris } from './uri-secrets.js';
export { showConfig, type ShowFormat } from './config-show.js';
export type { EnokiConfig, LoggingConfig, LogLevel, PoolConfig, TlsConfig } from './config-schema.js';
export type { AmqpUriOrder, QueueType } from './config-amqp-uri.js';

/** How loadConfig reads its sources. */
export interface LoadOptions {
  /** Where `${VAR}` is looked up, and where overrides come from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Told about keys that look like a typo of an enoki key (`AMQP_URL`); default:
   * process.emitWarning. The CLI prints them.
   */
  onWarning?: (message: string) => void;
}

type Frozen<T> = { readonly [K in keyof T]: T[K] extends object | null ? Readonly<T[K]> : T[K] };

/** The defaults, frozen: what an empty config.yaml gives. */
export const DEFAULT_CONFIG: Frozen<EnokiConfig> = deepFreeze(CONFIG_SCHEMA.parse({}));

const OBJECT_SOURCE = '<object>';

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
 * the defaults. `${VAR}` / `${VAR:default}` (nestable: `${A:${B:x}}`) in string values are
 * replaced from `options.env`. For a file or the defaults, the environment then overrides
 * any key (AMQP_URI, POOL_THREADS, ...; see config-env.ts); a mapping given in code is
 * taken as it is. Always returns a new object; unknown top-level keys are kept for user code.
 */
export function loadConfig(source?: string | Record<string, unknown>, options: LoadOptions = {}): EnokiConfig {
  const env = options.env ?? process.env;
  const where = typeof source === 'string' ? source : source === undefined ? 'the defaults' : OBJECT_SOURCE;
  const parsed = typeof source === 'string' ? readYaml(source) : source;
  let tree: Record<string, unknown> = {};
  // An empty file is a config with nothing set.
  if (parsed !== undefined && parsed !== null) {
    if (!isPlainObject(parsed)) throw invalid([], where, `expected a mapping of config keys, found ${describe(parsed)}`, '(top level)');
    tree = substitute(parsed, '', { source: where, env }) as Record<string, unknown>;
  }
  let fromEnv = new Map<string, string>();
  if (typeof source !== 'object') ({ tree, from: fromEnv } = applyEnvironment(tree, env));
  // YAML (the file, and environment values read as YAML) makes `__proto__` an own key,
  // which user code merging a section would turn into a prototype: refused, as everywhere.
  const poisoned = findPoisonedKey(tree);
  if (poisoned !== undefined) throw invalid([], where, `the key ${poisoned} is not allowed (prototype poisoning)`, poisoned);

  // Learn the password first, so that no later message can repeat it.
  const uris = tree['AMQP_URI'];
  const secrets = (typeof uris === 'string' ? splitUriList(uris) : Array.isArray(uris) ? uris.filter((u): u is string => typeof u === 'string') : []).flatMap((uri) => uriSecrets(uri, 3));
  const origin = (path: string): string => {
    const variable = fromEnv.get(path) ?? fromEnv.get(path.split('.')[0]!);
    return variable ? `environment variable ${variable}` : where;
  };
  const fail = (path: string, detail: string): never => {
    throw invalid(secrets, origin(path), detail, path);
  };

  const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, { code: 'ENOKI_CONFIG_KEY' }));
  for (const key of Object.keys(tree)) {
    const finding = unknownTopLevelKey(key);
    if (finding && 'error' in finding) fail(key, finding.error);
    if (finding && 'warning' in finding) warn(`config ${where}: ${finding.warning}`);
  }

  // Only enoki's keys go through the schema; the user's are copied as own properties
  // afterwards, so a key named `__proto__` stays a key and never becomes the prototype.
  const known: Record<string, unknown> = {};
  for (const key of KNOWN_KEYS) if (Object.hasOwn(tree, key)) known[key] = tree[key];
  const result = CONFIG_SCHEMA.safeParse(known, { reportInput: true });
  if (result.success) {
    for (const key of Object.keys(tree)) if (!KNOWN_KEYS.includes(key)) setOwn(result.data, key, tree[key]);
    return result.data;
  }
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const section = path[0] as keyof typeof SECTION_KEYS;
    const allowed = SECTION_KEYS[section] ?? [];
    const key = issue.keys[0]!;
    return fail([...path, key].join('.'), `unknown key${sectionKeyHint(key, allowed)}; expected one of ${allowed.join(', ')}`);
  }
  // A custom issue with no input is a whole sentence ("give only one"), not an "expected".
  if (issue.code === 'custom' && issue.input === undefined) return fail(path.join('.'), issue.message);
  const hide = SECRET_KEY.test(path.at(-1) ?? '');
  return fail(path.join('.'), `expected ${issue.message}, found ${describe(issue.input, hide)}`);
}

function invalid(secrets: readonly string[], where: string, detail: string, path: string | string[]): EnokiError {
  let safe = detail;
  for (const secret of secrets) safe = safe.split(secret).join(SECRET_MASK);
  return new EnokiError('ENOKI_ERR_CONFIG_INVALID', [Array.isArray(path) ? path.join('.') : path, where, safe]);
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

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
