// The one JSON decoder for what enoki reads from outside: RPC requests and replies, event
// messages, HTTP bodies. No socket here (pool threads may import it).
//
// Why not JSON.parse: `{"\u005f_proto__": {"admin": true}}` parses to an object with an
// *own* property named `__proto__`; a later `Object.assign({}, body)` or spread-then-assign
// in user code then sets the target's prototype, and `merged.admin` is true. A text search
// for "__proto__" misses the escaped spelling. secure-json-parse (fastify's) detects the key
// after unescaping, nested at any depth, and `constructor.prototype` too, and costs one
// regular-expression test on clean input.
//
// Such a key is refused, never silently removed: a request that carries one was crafted,
// and its sender should hear why. Each caller maps the refusal to its own answer (RPC: a
// MalformedRequest reply naming the key; HTTP: 400; events: logged and dropped).

import { parse as secureParse } from 'secure-json-parse';

/** A JSON document that would poison prototypes: `__proto__`, or `constructor.prototype`. */
export class PoisonedJsonError extends SyntaxError {
  /** Where the forbidden key is, e.g. `args[0].__proto__` or `constructor.prototype`. */
  readonly path: string;

  constructor(path: string) {
    super(`the key ${path} is not allowed (prototype poisoning)`);
    this.path = path;
  }

  override get name(): string {
    return 'PoisonedJsonError';
  }
}

const OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * `JSON.parse` for untrusted text: a SyntaxError for text that is not JSON, a
 * {@link PoisonedJsonError} naming the key's path for a document with `__proto__` or
 * `constructor.prototype` keys, escaped or not, at any depth.
 */
export function parseUntrustedJson(text: string): unknown {
  try {
    return secureParse(text, undefined, OPTIONS);
  } catch (err) {
    // secure-json-parse says only that a forbidden key exists; find where, for the message.
    // This walk runs only on refused input, so clean input pays nothing for it.
    if (!(err instanceof SyntaxError) || !/forbidden (prototype|constructor) property/.test(err.message)) throw err;
    throw new PoisonedJsonError(findPoisonedKey(JSON.parse(text) as unknown) ?? '__proto__');
  }
}

/**
 * The path of the first `__proto__` or `constructor.prototype` own key in a parsed value
 * (breadth first), or undefined: for documents other parsers made (YAML config, whose
 * parser also creates such keys as own properties).
 */
export function findPoisonedKey(root: unknown): string | undefined {
  const queue: Array<[unknown, string]> = [[root, '']];
  while (queue.length > 0) {
    const [value, path] = queue.shift()!;
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      value.forEach((item, i) => queue.push([item, `${path}[${i}]`]));
      continue;
    }
    const at = (key: string): string => (path ? `${path}.${key}` : key);
    if (Object.hasOwn(value, '__proto__')) return at('__proto__');
    const ctor = (value as Record<string, unknown>).constructor;
    if (Object.hasOwn(value, 'constructor') && ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) {
      return at('constructor.prototype');
    }
    for (const key of Object.keys(value)) queue.push([(value as Record<string, unknown>)[key], at(key)]);
  }
  return undefined;
}
