// `enoki show-config`: the resolved config in config-file spelling (loadable again), as
// YAML or JSON, with every secret masked: the AMQP password in any URI, and the value of
// any key named like a secret (password, passwd, secret, token, passphrase, credentials, API,
// access or private key: SECRET_KEY in config-schema.ts) at any depth.

import yaml from 'js-yaml';
import { KNOWN_KEYS, SECTION_KEYS, SECRET_KEY, snakeKey, type EnokiConfig } from './config-schema.js';
import { isPlainObject, setOwn } from './config-substitute.js';
import { maskUri, SECRET_MASK } from './uri-secrets.js';

/** Output formats of show-config. */
export type ShowFormat = 'yaml' | 'json';

/** The resolved config in config-file spelling, with secrets masked. */
export function showConfig(config: EnokiConfig, format: ShowFormat = 'yaml'): string {
  const shown: Record<string, unknown> = {};
  // enoki's keys first, in schema order, then the user's.
  const keys = [...KNOWN_KEYS, ...Object.keys(config).filter((key) => !KNOWN_KEYS.includes(key))];
  for (const key of keys) {
    const value = config[key];
    setOwn(shown, key, Object.hasOwn(SECTION_KEYS, key) && isPlainObject(value) ? fileSpelling(value) : value);
  }
  const redacted = redact(shown);
  return format === 'json' ? `${JSON.stringify(redacted, null, 2)}\n` : yaml.dump(redacted, { noRefs: true, skipInvalid: true, lineWidth: -1 });
}

/** A loaded section (camelCase keys) as the file writes it (snake_case). */
function fileSpelling(section: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(section)) if (value !== undefined) setOwn(out, snakeKey(key), value);
  return out;
}

function redact(node: unknown): unknown {
  if (typeof node === 'string') return /^[a-z][a-z0-9+.-]*:\/\//i.test(node) ? maskUri(node) : node;
  if (Array.isArray(node)) return node.map(redact);
  if (!isPlainObject(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) setOwn(out, key, SECRET_KEY.test(key) && value !== null && value !== undefined ? SECRET_MASK : redact(value));
  return out;
}
