// The one MessagePack decoder for what enoki reads from outside (RPC requests and replies,
// events sent as application/x-msgpack), the counterpart of untrusted-json.ts. No socket
// here (pool threads may import it).
//
// Poisoning: msgpackr turns a map into a plain object and, met with a `__proto__` key,
// silently renames it `__proto_`. enoki refuses such a message instead (as untrusted-json.ts
// does): a body that carries one was crafted, and its sender should hear why. MessagePack
// strings cannot be escaped, so a `__proto__` or `prototype` key is in the raw bytes
// verbatim: clean input pays one Buffer.indexOf per word, and only a body that contains
// either word is decoded a second time into Maps, to tell a key from a string value and to
// name the key's path.
//
// Extensions from outside: msgpackr's structured-clone references (0x69 / 0x70, which can
// build cycles) are switched off; its typed-array, Set, Error, RegExp and timestamp
// extensions stay (what enoki's own encoder may send, see serializer.ts).

import { Unpackr, type Options } from 'msgpackr';
import { PoisonedJsonError } from './untrusted-json.js';

/** A MessagePack body that would poison prototypes: a `__proto__` key, or `constructor.prototype`. */
export class PoisonedMessagePackError extends PoisonedJsonError {
  override get name(): string {
    return 'PoisonedMessagePackError';
  }
}

const COMMON = {
  useRecords: false,
  // kombu's `unpackb(raw=False)` peers send ints beyond 2^32 as (u)int64: numbers while
  // they are exact, BigInt beyond 2^53.
  int64AsType: 'auto',
  structuredClone: false,
  // 'auto' is in msgpackr's README and code but not yet in its Options type.
} as unknown as Options;

const objects = new Unpackr({ ...COMMON, mapsAsObjects: true });
const maps = new Unpackr({ ...COMMON, mapsAsObjects: false });

const PROTO = Buffer.from('__proto__');
const PROTOTYPE = Buffer.from('prototype');

/**
 * Decode one MessagePack value from untrusted bytes: an Error for bytes that are not one
 * whole MessagePack value, a {@link PoisonedMessagePackError} naming the key's path for a
 * map with a `__proto__` key or a `constructor` map with a `prototype` key, at any depth.
 */
export function parseUntrustedMsgpack(body: Uint8Array): unknown {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (bytes.indexOf(PROTO) !== -1 || bytes.indexOf(PROTOTYPE) !== -1) {
    const path = findPoisonedMapKey(maps.unpack(bytes));
    if (path !== undefined) throw new PoisonedMessagePackError(path);
  }
  return objects.unpack(bytes);
}

/** The path of the first `__proto__` or `constructor.prototype` key in a value decoded with Maps. */
function findPoisonedMapKey(root: unknown): string | undefined {
  const queue: Array<[unknown, string]> = [[root, '']];
  while (queue.length > 0) {
    const [value, path] = queue.shift()!;
    const at = (key: string): string => (path ? `${path}.${key}` : key);
    if (Array.isArray(value) || value instanceof Set) {
      [...value].forEach((item, i) => queue.push([item, `${path}[${i}]`]));
    } else if (value instanceof Map) {
      for (const [key, inner] of value) {
        const name = String(key);
        if (name === '__proto__') return at(name);
        if (name === 'constructor' && inner instanceof Map && [...inner.keys()].some((k) => String(k) === 'prototype')) return at('constructor.prototype');
        queue.push([inner, at(name)]);
      }
    }
  }
  return undefined;
}
