// The broker password in an AMQP URI, found and hidden. Config validation, show-config,
// the transport's logs and the CLI all print URIs; they all mask them here, so there is
// one rule for where a password starts and ends.

const MASK = '***';

/** Index range [start, end) of the password in a URI's userinfo, or null when it has none. */
function passwordSpan(uri: string): [number, number] | null {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(uri);
  const start = scheme ? scheme[0].length : 0;
  // For a URI the WHATWG parser accepts, userinfo ends at the last '@' before the path.
  // For one it rejects (often an unencoded '/' or '#' in the password) take the last '@'
  // anywhere: masking too much beats printing a password in an error message.
  let end = uri.length;
  if (scheme && URL.canParse(uri)) {
    const slash = uri.slice(start).search(/[/?#]/);
    if (slash >= 0) end = start + slash;
  }
  const at = uri.lastIndexOf('@', end - 1);
  if (at < start) return null;
  const colon = uri.indexOf(':', start);
  if (colon < 0 || colon > at) return null;
  return [colon + 1, at];
}

/** `amqp://guest:secret@h:5672/v` → `amqp://guest:***@h:5672/v`; URIs without a password are returned unchanged. */
export function maskUri(uri: string): string {
  const span = passwordSpan(uri);
  return span ? uri.slice(0, span[0]) + MASK + uri.slice(span[1]) : uri;
}

/**
 * The password of `uri` as it may appear in text: raw and percent-decoded. Forms shorter
 * than `minLength` are left out (scrubbing a two-letter "password" from a config message
 * would shred it and hide nothing).
 */
export function uriSecrets(uri: string, minLength = 1): string[] {
  const span = passwordSpan(uri);
  if (!span) return [];
  const raw = uri.slice(span[0], span[1]);
  const found = [raw];
  try {
    const decoded = decodeURIComponent(raw);
    if (decoded !== raw) found.push(decoded);
  } catch {
    // Not valid percent-encoding: the raw form is all there is to scrub.
  }
  return found.filter((s) => s.length >= minLength);
}

/** `text` with `uri` shown masked and every other appearance of its password replaced by `***`. */
export function scrubSecrets(text: string, uri: string, minLength = 1): string {
  let out = text.split(uri).join(maskUri(uri));
  for (const secret of uriSecrets(uri, minLength)) out = out.split(secret).join(MASK);
  return out;
}

/** The mask put in place of a secret. */
export const SECRET_MASK = MASK;

/** The message of an error, or the text of anything thrown. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** AMQP_URI as a list: a single URI is a list of one. */
export function uriList(value: string | readonly string[]): string[] {
  return typeof value === 'string' ? [value] : [...value];
}

/** AMQP_URI (one URI or a list) masked for a log line or a message: `amqp://u:***@a/, amqp://u:***@b/`. */
export function maskUris(value: string | readonly string[]): string {
  return uriList(value).map(maskUri).join(', ');
}
