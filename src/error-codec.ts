// The one codec from a thrown error to what a caller is told: nameko's error reply fields
// (`exc_type`, `exc_path`, `exc_args`, `value`) for RPC, and the same type and message in
// an HTTP error body (`Error: <type>: <message>`, as nameko's web entrypoints answer). One
// place decides what leaves the service: an enoki error whose message names internals
// reads as its code only (callerMessage), and a stack only when INCLUDE_REMOTE_STACK is on.
// No socket here.

import { callerMessage } from './errors.js';
import { safeString } from './thrown-values.js';

export interface WireError {
  exc_type: string;
  exc_path: string;
  exc_args: unknown[];
  value: string;
  /** enoki extension, only sent when INCLUDE_REMOTE_STACK is on; nameko ignores unknown keys. */
  stack?: string;
}

export const ENOKI_CODE_PATH = 'enoki.errors.';

/** Errors that nameko clients rebuild as their own class, keyed by exc_path. */
export const NAMEKO_PATHS: Record<string, string> = {
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

/** The body of an HTTP error response for `error`: nameko's `Error: <type>: <message>`. */
export function httpErrorText(error: unknown): string {
  const { exc_type, value } = serializeError(error);
  return `Error: ${exc_type}: ${safeString(value)}\n`;
}
