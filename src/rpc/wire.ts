// nameko's RPC wire format, read off real captures (test/fixtures/nameko-wire/, copied from the shared captures):
//   request body  {"args": [...], "kwargs": {...}}
//   reply body    {"result": <value>, "error": null | {exc_type, exc_path, exc_args, value}}
//   headers       'nameko.<key>' per context-data key; 'nameko.call_id_stack' an array of
//                 '<service>.<method>.<uuid>' strings, oldest first (src/context-headers.ts,
//                 shared with events).
// Everything that turns bytes into values or values into bytes for RPC lives here, so
// the consumer, the client and the tests agree on one reading.

import { parseUntrustedJson, PoisonedJsonError } from '../untrusted-json.js';
import { callerMessage, IncorrectSignature, MalformedRequest, MethodNotFound, RemoteError, type EnokiError } from '../errors.js';
import { safeString } from '../thrown-values.js';
import type { MessageProperties } from '../transport/transport.js';

export const JSON_CONTENT_TYPE = 'application/json';

export interface RpcRequest {
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export interface WireError {
  exc_type: string;
  exc_path: string;
  exc_args: unknown[];
  value: string;
  /** enoki extension, only sent when INCLUDE_REMOTE_STACK is on; nameko ignores unknown keys. */
  stack?: string;
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

const ENOKI_CODE_PATH = 'enoki.errors.';

/** Errors that nameko clients rebuild as their own class, keyed by exc_path. */
const NAMEKO_PATHS: Record<string, string> = {
  MethodNotFound: 'nameko.exceptions.MethodNotFound',
  IncorrectSignature: 'nameko.exceptions.IncorrectSignature',
  MalformedRequest: 'nameko.exceptions.MalformedRequest',
};

/**
 * Serialize a thrown value into nameko's error shape. `exc_args` are strings, as
 * nameko's safe_for_serialization makes them; an error may carry its own `args`
 * array (Python-style) and `excPath` (static or instance) to control the wire form.
 */
export function serializeError(err: unknown, includeStack = false): WireError {
  if (!(err instanceof Error)) {
    const text = safeString(err);
    return { exc_type: 'Error', exc_path: 'enoki.Error', exc_args: [text], value: text };
  }
  const excType = err.name || err.constructor?.name || 'Error';
  const custom = err as Error & { args?: unknown; excPath?: unknown };
  const staticPath = (err.constructor as { excPath?: unknown }).excPath;
  // enoki's own coded errors (a pool thread that died, a full pool, ...) carry their code in
  // exc_path, so an enoki caller can tell them apart; nameko callers see a RemoteError.
  const code = (err as { code?: unknown }).code;
  const codedPath = typeof code === 'string' && code.startsWith('ENOKI_ERR_') ? `${ENOKI_CODE_PATH}${code}` : undefined;
  const excPath =
    NAMEKO_PATHS[excType] ??
    (typeof custom.excPath === 'string' ? custom.excPath : typeof staticPath === 'string' ? staticPath : (codedPath ?? `enoki.${excType}`));
  // An internal enoki error (a path, a host in its message) reaches the caller as its code only.
  const message = callerMessage(err, includeStack);
  const rawArgs = message !== err.message ? [message] : Array.isArray(custom.args) ? custom.args : err.message ? [err.message] : [];
  const wire: WireError = {
    exc_type: excType,
    exc_path: excPath,
    exc_args: rawArgs.map(safeString),
    value: message,
  };
  if (includeStack && err.stack) wire.stack = err.stack;
  return wire;
}


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
