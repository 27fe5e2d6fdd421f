// What an @http method receives, and how it is read off the socket.
//
// HttpRequest is plain data on purpose: a @cpuBound handler runs in a pool thread, and
// everything it is given must survive structuredClone. No socket, stream or function is
// ever put in it; a Buffer body arrives in the pool thread as a Uint8Array.

import { parseUntrustedJson } from '../untrusted-json.js';
import type { IncomingMessage } from 'node:http';

/** Request headers by lower-case name, as node:http gives them; some repeated headers are arrays. */
export type HttpHeaders = Record<string, string | string[] | undefined>;
/** A parsed query string (or urlencoded form body): a repeated key gives an array. */
export type HttpQuery = Record<string, string | string[]>;

/**
 * What an `@http` method receives. It is plain data, with no socket, stream or function,
 * so it survives structured clone into a pool thread for a `@cpuBound` handler. `Body`
 * types `body` for the handler; it is not checked at run time.
 */
export interface HttpRequest<Body = unknown> {
  /** Upper case: 'GET', 'POST', ... */
  method: string;
  /** The request target as sent: path and query string. */
  url: string;
  /** The path without the query string (not percent-decoded). */
  path: string;
  /** Route parameters (`/users/:id` gives `params.id`), percent-decoded. */
  params: Record<string, string>;
  /** Query string; a repeated key gives an array. */
  query: HttpQuery;
  /** Lower-case header names, as node:http gives them. */
  headers: HttpHeaders;
  /**
   * `application/json` and `*+json`: the parsed value. `text/*`: a string (decoded with
   * the declared charset). `application/x-www-form-urlencoded`: an object like `query`.
   * Anything else: the raw bytes (a Buffer; a Uint8Array inside a `@cpuBound` handler).
   * No body: undefined.
   */
  body: Body;
}

/** Why a body was refused, with the status that says so. */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
  }

  override get name(): string {
    return this.status === 413 ? 'PayloadTooLarge' : this.status === 415 ? 'UnsupportedMediaType' : 'BadRequest';
  }
}

/** Whether the request carries a body at all. */
export function hasBody(req: IncomingMessage): boolean {
  // RFC 9112 6.3: without Content-Length or Transfer-Encoding a request has no body.
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Read the body, refusing more than `limit` bytes. Resolves undefined when there is no
 * body, rejects with a BodyError for one that must be refused, and with any other error
 * when the client went away mid-body (nothing can be answered then).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  if (!hasBody(req)) return Promise.resolve(undefined);
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return Promise.reject(new BodyError(415, `content-encoding ${encoding} is not supported`));
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new BodyError(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading; the response closes the connection, so the rest is never read.
        req.pause();
        reject(new BodyError(413, `body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('the client closed the connection before the body was complete'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

interface MediaType {
  type: string;
  charset: string | undefined;
}

function mediaType(header: string | undefined): MediaType | undefined {
  if (!header) return undefined;
  const semi = header.indexOf(';');
  const type = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  const charset = semi < 0 ? undefined : /(?:^|;)\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(header.slice(semi))?.[1];
  return { type, charset };
}

export function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * A JSON body as untrusted input: `__proto__` and `constructor.prototype` keys, escaped or
 * not, at any depth, are refused (400) rather than reaching a handler that merges the body
 * into an object (src/untrusted-json.ts).
 */
export function parseJson(text: string): unknown {
  return parseUntrustedJson(text);
}

/** Turn body bytes into what `req.body` holds, by Content-Type. */
export function parseBody(bytes: Buffer | undefined, contentType: string | undefined): unknown {
  if (bytes === undefined || bytes.length === 0) return undefined;
  const media = mediaType(contentType);
  if (!media) return bytes;
  if (isJsonType(media.type)) {
    try {
      return parseJson(bytes.toString('utf8'));
    } catch (err) {
      throw new BodyError(400, `invalid JSON: ${(err as Error).message}`);
    }
  }
  if (media.type.startsWith('text/')) return decodeText(bytes, media.charset);
  if (media.type === 'application/x-www-form-urlencoded') return parseForm(decodeText(bytes, media.charset));
  return bytes;
}

function decodeText(bytes: Buffer, charset: string | undefined): string {
  if (charset === undefined || /^utf-?8$/i.test(charset)) return bytes.toString('utf8');
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    throw new BodyError(415, `charset ${charset} is not supported`);
  }
}

/**
 * Why a query string or form (an {@link HttpQuery}) must be refused, or undefined. A
 * `__proto__` key is an own property there, and a repeated one an array: a handler's
 * `Object.assign({}, query)` would make that array the merged object's prototype. Refused
 * (400), as a JSON body's `__proto__` is; other names (`constructor`, `prototype`) only
 * ever hold strings, which cannot become a prototype.
 */
export function poisonedQueryKey(query: HttpQuery): string | undefined {
  return Object.hasOwn(query, '__proto__') ? 'the key __proto__ is not allowed (prototype poisoning)' : undefined;
}

function parseForm(text: string): HttpQuery {
  const out: HttpQuery = {};
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === '__proto__') throw new BodyError(400, 'invalid form: the key __proto__ is not allowed (prototype poisoning)');
    const prev = Object.hasOwn(out, key) ? out[key] : undefined;
    const entry = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    Object.defineProperty(out, key, { value: entry, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
