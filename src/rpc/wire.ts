// nameko's RPC wire format, read off real captures (test/fixtures/nameko-wire/, copied from the shared captures):
//   request body  {"args": [...], "kwargs": {...}}
//   reply body    {"result": <value>, "error": null | {exc_type, exc_path, exc_args, value}}
//   headers       'nameko.<key>' per context-data key; 'nameko.call_id_stack' an array of
//                 '<service>.<method>.<uuid>' strings, oldest first (src/context-headers.ts,
//                 shared with events).
// Everything that turns bytes into values or values into bytes for RPC lives here, so
// the consumer, the client and the tests agree on one reading.

import { ENOKI_CODE_PATH, NAMEKO_PATHS, serializeError, type WireError } from '../error-codec.js';
import { parseUntrustedJson, PoisonedJsonError } from '../untrusted-json.js';
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
 * Parse a request body. Anything but a JSON object with an `args` array and a `kwargs`
 * object is a MalformedRequest (nameko's reply for it), never an exception that could
 * take the consumer down.
 */
export function decodeRequest(body: Buffer, properties: MessageProperties): RpcRequest {
  const type = properties.contentType;
  if (type !== undefined && type !== JSON_CONTENT_TYPE && type !== 'application/x-json' && type !== 'text/json') {
    throw new MalformedRequest(`Unsupported content type ${JSON.stringify(type)}: enoki speaks application/json`);
  }
  let parsed: unknown;
  try {
    parsed = parseUntrustedJson(body.toString('utf8'));
  } catch (err) {
    if (err instanceof PoisonedJsonError) throw new MalformedRequest(`Message refused: the key ${err.path} is not allowed (prototype poisoning)`);
    throw new MalformedRequest(`Message body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new MalformedRequest('Message must be a JSON object with "args" and "kwargs"');
  }
  const obj = parsed as Record<string, unknown>;
  const args = Object.hasOwn(obj, 'args') ? obj.args : [];
  const kwargs = Object.hasOwn(obj, 'kwargs') ? obj.kwargs : {};
  if (!Array.isArray(args)) throw new MalformedRequest('Message field "args" must be a list');
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs)) {
    throw new MalformedRequest('Message field "kwargs" must be a mapping');
  }
  return { args, kwargs: kwargs as Record<string, unknown> };
}

export function encodeRequest(args: readonly unknown[], kwargs: Readonly<Record<string, unknown>> = {}): Buffer {
  return Buffer.from(JSON.stringify({ args, kwargs }));
}

/** JSON that cannot fail: undefined becomes null, BigInt a string, cycles an error. */
export function encodeReply(reply: RpcReply): Buffer {
  return Buffer.from(
    JSON.stringify(reply, (_key, value: unknown) => {
      if (value === undefined) return null;
      if (typeof value === 'bigint') return value.toString();
      return value;
    }),
  );
}

export function decodeReply(body: Buffer): RpcReply {
  let parsed: unknown;
  try {
    parsed = parseUntrustedJson(body.toString('utf8'));
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
