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
