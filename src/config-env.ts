// The environment overrides every key enoki reads, without the config file having to name
// it: `AMQP_URI=... enoki run`, `WEB_SERVER_ADDRESS=0.0.0.0:9000`, `POOL_THREADS=4`.
// A top-level key's variable is its name in upper case (`rpc_exchange` → RPC_EXCHANGE); a
// section key's is SECTION_KEY (`POOL.idle_timeout` → POOL_IDLE_TIMEOUT). Values are typed
// as YAML scalars, as `${VAR}` values are. Precedence: defaults < file < environment < flags.

import { KNOWN_KEYS, SECTION_KEYS } from './config-schema.js';
import { isPlainObject, parseScalar, setOwn } from './config-substitute.js';

/** Section keys that have a variable: the canonical names, not nameko's aliases. */
const SECTION_ENV_KEYS: Readonly<Record<keyof typeof SECTION_KEYS, readonly string[]>> = {
  LOGGING: SECTION_KEYS.LOGGING,
  POOL: SECTION_KEYS.POOL,
  AMQP_SSL: ['ca', 'cert', 'key', 'passphrase', 'reject_unauthorized'],
  HTTP: SECTION_KEYS.HTTP,
};

/** Every variable that overrides a key, with the key's path: for docs, show-config and tests. */
export function overrideVariables(): Array<{ variable: string; path: string }> {
  const out = KNOWN_KEYS.map((key) => ({ variable: key.toUpperCase(), path: key }));
  for (const [section, keys] of Object.entries(SECTION_ENV_KEYS)) {
    for (const key of keys) out.push({ variable: `${section}_${key.toUpperCase()}`, path: `${section}.${key}` });
  }
  return out;
}

/**
 * `tree` with the environment's overrides applied (a new object), and which variable set
 * each overridden path, so an invalid value is reported as coming from that variable.
 */
export function applyEnvironment(tree: Record<string, unknown>, env: NodeJS.ProcessEnv): { tree: Record<string, unknown>; from: Map<string, string> } {
  const out: Record<string, unknown> = { ...tree };
  const from = new Map<string, string>();
  const read = (name: string): unknown => (Object.hasOwn(env, name) && env[name] !== undefined ? parseScalar(env[name]!) : undefined);
  for (const key of KNOWN_KEYS) {
    const value = read(key.toUpperCase());
    if (value === undefined) continue;
    setOwn(out, key, value);
    from.set(key, key.toUpperCase());
  }
  for (const [section, keys] of Object.entries(SECTION_ENV_KEYS)) {
    for (const key of keys) {
      const variable = `${section}_${key.toUpperCase()}`;
      const value = read(variable);
      if (value === undefined) continue;
      const own = sectionMapping(section, out[section]);
      setOwn(own, key, value);
      setOwn(out, section, own);
      from.set(`${section}.${key}`, variable);
    }
  }
  return { tree: out, from };
}

/** A section as a mapping that a variable can set a key of (a copy). */
function sectionMapping(section: string, value: unknown): Record<string, unknown> {
  if (isPlainObject(value)) {
    const root = value['root'];
    // A nameko dictConfig: only its root level carries over anyway.
    if (section === 'LOGGING' && 'version' in value) return isPlainObject(root) && root['level'] != null ? { level: root['level'] } : {};
    return { ...value };
  }
  // `LOGGING: debug` is the level; `AMQP_SSL: true` is TLS with defaults.
  if (section === 'LOGGING' && typeof value === 'string') return { level: value };
  return {};
}
