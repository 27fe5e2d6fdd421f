// nameko's RPC wire format, read off real captures (test/fixtures/nameko-wire/, copied from the shared captures):
//   request body  {"args": [...], "kwargs": {...}}
//   reply body    {"result": <value>, "error": null | {exc_type, exc_path, exc_args, value}}
//   headers       'nameko.<key>' per context-data key; 'nameko.call_id_stack' an array of
//                 '<service>.<method>.<uuid>' strings, oldest first (src/context-headers.ts,
//                 shared with events).
//   content type   application/json (utf-8), or kombu's application/x-msgpack (binary)
//                 with the same two maps (src/serializer.ts); a reply uses its request's.
// Everything that turns bytes into values or values into bytes for RPC lives here, so
// the consumer, the client and the tests agree on one reading.

import { ENOKI_CODE_PATH, NAMEKO_PATHS, serializeError, type WireError } from '../error-codec.js';
import { PoisonedJsonError } from '../untrusted-json.js';
import { JSON_SERIALIZER, serializerForContentType, SPOKEN_CONTENT_TYPES, type Serializer } from '../serializer.js';
import { callerMessage, IncorrectSignature, MalformedRequest, MethodNotFound, RemoteError, type EnokiError } from '../errors.js';
import { safeString } from '../thrown-values.js';
import type { MessageProperties } from '../transport/transport.js';

export const JSON_CONTENT_TYPE = 'application/json';

export interface RpcRequest {
  args: unknown[];
  kwargs: Record<string, unknown>;
}


export interface RpcReply {
  result: unknown;
  error: WireError | null;
}

/**
 * Parse a request body, in the format its content type names (JSON, or kombu's msgpack;
 * JSON when it has none). Anything but a map with an `args` list and a `kwargs` map is a
 * MalformedRequest (nameko's reply for it), never an exception that could take the
 * consumer down.
 */
export function decodeRequest(body: Buffer, properties: MessageProperties): RpcRequest {
  const type = properties.contentType;
  const serializer = serializerForContentType(type);
  if (!serializer) throw new MalformedRequest(`Unsupported content type ${JSON.stringify(type)}: ${SPOKEN_CONTENT_TYPES}`);
  const format = serializer.name === 'json' ? 'JSON' : 'MessagePack';
  let parsed: unknown;
  try {
    parsed = serializer.decode(body);
  } catch (err) {
    if (err instanceof PoisonedJsonError) throw new MalformedRequest(`Message refused: the key ${err.path} is not allowed (prototype poisoning)`);
    throw new MalformedRequest(`Message body is not valid ${format}: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new MalformedRequest(`Message must be a ${format} ${serializer.name === 'json' ? 'object' : 'map'} with "args" and "kwargs"`);
  }
  const obj = parsed as Record<string, unknown>;
  const args = Object.hasOwn(obj, 'args') ? obj.args : [];
  const kwargs = Object.hasOwn(obj, 'kwargs') ? obj.kwargs : {};
  if (!Array.isArray(args)) throw new MalformedRequest('Message field "args" must be a list');
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs) || ArrayBuffer.isView(kwargs) || kwargs instanceof Map || kwargs instanceof Set) {
    throw new MalformedRequest('Message field "kwargs" must be a mapping');
  }
  return { args, kwargs: kwargs as Record<string, unknown> };
}

/** A request body in `serializer`'s format (JSON: plain JSON.stringify, as enoki always sent). */
export function encodeRequest(args: readonly unknown[], kwargs: Readonly<Record<string, unknown>> = {}, serializer: Serializer = JSON_SERIALIZER): Buffer {
  if (serializer.name === 'json') return Buffer.from(JSON.stringify({ args, kwargs }));
  return serializer.encode({ args, kwargs });
}

/** A reply body in `serializer`'s format; JSON cannot fail for undefined (null) or BigInt (a string); cycles throw. */
export function encodeReply(reply: RpcReply, serializer: Serializer = JSON_SERIALIZER): Buffer {
  return serializer.encode(reply);
}

/** Parse a reply body in the format its content type names (JSON when it has none). */
export function decodeReply(body: Buffer, contentType?: string): RpcReply {
  const serializer = serializerForContentType(contentType);
  if (!serializer) throw new MalformedRequest(`Reply has the unsupported content type ${JSON.stringify(contentType)}: ${SPOKEN_CONTENT_TYPES}`);
  let parsed: unknown;
  try {
    parsed = serializer.decode(body);
  } catch (err) {
    if (err instanceof PoisonedJsonError) throw new MalformedRequest(`Reply refused: the key ${err.path} is not allowed (prototype poisoning)`);
    throw err;
  }
  if (parsed === null || typeof parsed !== 'object' || !('result' in parsed) && !('error' in parsed)) {
    throw new MalformedRequest('Reply is not {"result": ..., "error": ...}');
  }
  const reply = parsed as Partial<RpcReply>;
  return { result: reply.result ?? null, error: reply.error ?? null };
}

// --- errors ------------------------------------------------------------------------

/** Rebuild the error a caller sees, as nameko's client does. */
export function deserializeError(error: WireError): EnokiError {
  const value = typeof error.value === 'string' ? error.value : safeString(error.value);
  switch (error.exc_path) {
    case NAMEKO_PATHS.MethodNotFound:
      return new MethodNotFound(value);
    case NAMEKO_PATHS.IncorrectSignature:
      return new IncorrectSignature(value);
    case NAMEKO_PATHS.MalformedRequest:
      return new MalformedRequest(value);
    default:
      return new RemoteError(String(error.exc_type), value, {
        excPath: error.exc_path,
        excArgs: Array.isArray(error.exc_args) ? error.exc_args : [],
        remoteStack: typeof error.stack === 'string' ? error.stack : undefined,
        remoteCode:
          typeof error.exc_path === 'string' && error.exc_path.startsWith(`${ENOKI_CODE_PATH}ENOKI_ERR_`)
            ? error.exc_path.slice(ENOKI_CODE_PATH.length)
            : undefined,
      });
  }
}

export { serializeError, type WireError };
