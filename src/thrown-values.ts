// JavaScript can throw anything. These turn whatever was thrown into something enoki can
// log, send and rebuild, the same way on the main thread and in pool threads.

/** An Error as it is, or a plain Error describing a thrown non-Error. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  const err = new Error(typeof value === 'string' ? value : `non-Error thrown: ${safeString(value)}`);
  err.name = 'Error';
  return err;
}

/** A string for any value: strings as they are, JSON where possible, String() otherwise. */
export function safeString(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    const json = JSON.stringify(value);
    return json === undefined ? String(value) : json;
  } catch {
    return String(value);
  }
}

/**
 * A structured clone failure's message without the value's source: V8 writes the value
 * itself (`() => secret could not be cloned.`), which for a function is its code, and the
 * message reaches the caller in ENOKI_ERR_NOT_CLONEABLE.
 */
export function cloneFailureReason(message: string): string {
  const m = /^([\s\S]*) could not be cloned\.?$/.exec(message);
  if (!m) return message;
  const value = m[1]!;
  if (/^(#<[\w$]+>|\[object [\w$]+\])$/.test(value)) return message;
  if (/^Symbol\(/.test(value)) return 'a symbol could not be cloned';
  return 'a function could not be cloned (only plain data crosses between threads)';
}
