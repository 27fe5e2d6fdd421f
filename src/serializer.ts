// The body formats enoki reads and writes, by the names nameko's SERIALIZER config key uses
// and the content types kombu puts on the wire:
//   json     application/json, content_encoding utf-8 (nameko's default)
//   msgpack  application/x-msgpack, content_encoding binary: kombu's
//            `msgpack.packb(obj, use_bin_type=True)` / `unpackb(raw=False)`, so a nameko
//            service or client configured `SERIALIZER: msgpack` reads enoki's bodies and
//            enoki reads theirs.
//
// What msgpack carries that JSON does not (msgpackr with its `moreTypes` extensions):
// - Buffer: msgpack bin, `bytes` in Python, a Buffer again in enoki;
// - the other typed arrays (Float32Array, Int16Array, ... and a plain Uint8Array):
//   msgpackr's typed-array extension (ext type 0x74, the array's bytes, no base64), the
//   same typed array again in enoki; Python's msgpack sees `ExtType(116, <type byte> +
//   bytes)` unless it converts them (send a Buffer for plain bytes);
// - BigInt: (u)int64 when it fits; Date: the msgpack timestamp extension (-1); Set, Error
//   and RegExp: msgpackr extensions (Python sees ExtType).
// undefined is nil, as JSON's null. Class instances go as maps of their own properties
// (toJSON is not called).
//
// Every decoder here guards against prototype poisoning (untrusted-json.ts,
// untrusted-msgpack.ts); the size limit (MAX_MESSAGE_SIZE) is checked by each consumer on
// the raw body, before decoding.

import { Packr } from 'msgpackr';
import { parseUntrustedJson } from './untrusted-json.js';
import { parseUntrustedMsgpack } from './untrusted-msgpack.js';

/** A SERIALIZER name: nameko's (kombu's) names for the two formats enoki speaks. */
export type SerializerName = 'json' | 'msgpack';

/** Every SERIALIZER name enoki accepts. */
export const SERIALIZER_NAMES: readonly SerializerName[] = ['json', 'msgpack'];

/** One body format: its name, its AMQP content type and encoding, and its codec. */
export interface Serializer {
  /** The SERIALIZER name. */
  readonly name: SerializerName;
  /** content_type on the wire. */
  readonly contentType: string;
  /** content_encoding on the wire, as kombu sets it. */
  readonly contentEncoding: string;
  /**
   * Bytes for `value`. JSON: undefined becomes null and BigInt a decimal string, so a
   * result never fails for those; a cycle throws.
   */
  encode(value: unknown): Buffer;
  /** The value in untrusted `body`; throws a SyntaxError/Error for bad bytes, PoisonedJsonError (or its msgpack subclass) for a poisoning key. */
  decode(body: Buffer): unknown;
}

/** JSON content types kombu and nameko peers send. */
const JSON_TYPES = new Set(['application/json', 'application/x-json', 'text/json']);
/** MessagePack content types: kombu's, and the IANA-registered name. */
const MSGPACK_TYPES = new Set(['application/x-msgpack', 'application/msgpack']);

const packr = new Packr({ useRecords: false, moreTypes: true, encodeUndefinedAsNil: true, variableMapSize: true });

/** nameko's default format. */
export const JSON_SERIALIZER: Serializer = {
  name: 'json',
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  encode: (value) =>
    Buffer.from(
      JSON.stringify(value, (_key, inner: unknown) => {
        if (inner === undefined) return null;
        if (typeof inner === 'bigint') return inner.toString();
        return inner;
      }),
    ),
  decode: (body) => parseUntrustedJson(body.toString('utf8')),
};

/** kombu's msgpack: bin for bytes, str for strings. */
export const MSGPACK_SERIALIZER: Serializer = {
  name: 'msgpack',
  contentType: 'application/x-msgpack',
  contentEncoding: 'binary',
  encode: (value) => packr.pack(value),
  decode: (body) => parseUntrustedMsgpack(body),
};

/** The serializer named `name` (a validated SERIALIZER value). */
export function serializerNamed(name: SerializerName): Serializer {
  return name === 'msgpack' ? MSGPACK_SERIALIZER : JSON_SERIALIZER;
}

/**
 * The serializer for a message's content type: JSON when there is none (what enoki has
 * always read such bodies as), undefined for a type enoki does not speak.
 */
export function serializerForContentType(contentType: string | undefined): Serializer | undefined {
  if (contentType === undefined) return JSON_SERIALIZER;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (JSON_TYPES.has(type)) return JSON_SERIALIZER;
  if (MSGPACK_TYPES.has(type)) return MSGPACK_SERIALIZER;
  return undefined;
}

/** What a message with an unknown content type is told. */
export const SPOKEN_CONTENT_TYPES = 'enoki speaks application/json and application/x-msgpack';
