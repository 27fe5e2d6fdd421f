// What an @http method may return, how it becomes bytes on the wire, and how an error
// becomes a response. Like the request, a response is plain data, so a @cpuBound handler
// can build one in a pool thread.
//
// A handler returns (nameko's rules, in JS spelling):
//   'text'                         200 text/plain; charset=utf-8
//   { any: 'json' }, [1, 2], 42    200 application/json
//   Uint8Array / Buffer            200 application/octet-stream
//   undefined                      204, no body
//   [status, body]                 e.g. [201, { id }]
//   [status, headers, body]        e.g. [302, { location: '/x' }, '']
//   { status, headers?, body? }    an HttpResponse; made by response() or by hand
// The body of a tuple or HttpResponse follows the same rules (string, bytes, JSON).

import type { ServerResponse } from 'node:http';
import { httpErrorText } from '../error-codec.js';
import { ExpectedError } from '../errors.js';

/** Response headers by name (sent lower-cased); an array gives the header once per value. */
export type HttpResponseHeaders = Record<string, string | number | readonly string[]>;

/**
 * A response as plain data, which an `@http` method may return to choose the status and
 * headers: made by {@link response} or {@link json}, or written by hand. Plain data, so a
 * `@cpuBound` handler can build one in a pool thread.
 */
export interface HttpResponse<Body = unknown> {
  /** The status code, 100 to 599. */
  status: number;
  /**
   * Headers to send. They override the content-type chosen from the body;
   * content-length and transfer-encoding are always enoki's own.
   */
  headers?: HttpResponseHeaders;
  /** A string (text/plain), bytes (application/octet-stream), or any JSON value. */
  body?: Body;
}

/** An HttpResponse: `return response(201, { id }, { location: `/items/${id}` })`. */
export function response<Body>(status: number, body?: Body, headers?: HttpResponseHeaders): HttpResponse<Body> {
  if (!isStatus(status)) throw new RangeError(`HTTP status must be an integer from 100 to 599, got ${String(status)}`);
  const out: HttpResponse<Body> = { status };
  if (headers !== undefined) out.headers = headers;
  if (body !== undefined) out.body = body;
  return out;
}

/**
 * Always JSON, for a value that the rules above would read otherwise: a string
 * (`json('ok')` is `"ok"`), or an array shaped like a tuple (`json([200, 'x'])`).
 */
export function json(value: unknown, status = 200, headers?: HttpResponseHeaders): HttpResponse<string> {
  return response(status, stringify(value), { ...headers, 'content-type': JSON_TYPE });
}

/**
 * Throw from an `@http` method to answer with a given status: `throw new HttpError(404,
 * 'no such user')` answers 404 `Error: HttpError: no such user`. Subclass it to name the
 * error. It is an ExpectedError, so it is logged at warn level, without a stack.
 */
export class HttpError extends ExpectedError {
  readonly status: number;
  readonly headers: HttpResponseHeaders | undefined;

  constructor(status: number, message: string, options: { headers?: HttpResponseHeaders; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!isStatus(status) || status < 400) throw new RangeError(`HttpError status must be 400 to 599, got ${String(status)}`);
    this.status = status;
    this.headers = options.headers;
  }
}

const TEXT_TYPE = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const BYTES_TYPE = 'application/octet-stream';

function isStatus(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const RESPONSE_KEYS = new Set(['status', 'headers', 'body']);

function isHttpResponse(value: unknown): value is HttpResponse {
  if (!isPlainObject(value) || !isStatus(value.status)) return false;
  for (const key in value) if (!RESPONSE_KEYS.has(key)) return false;
  return value.headers === undefined || isPlainObject(value.headers);
}

/** Read a handler's return value by the rules at the top of this file. */
export function toHttpResponse(result: unknown): HttpResponse {
  if (result === undefined) return { status: 204 };
  if (Array.isArray(result)) {
    if (result.length === 2 && isStatus(result[0])) return { status: result[0], body: result[1] };
    if (result.length === 3 && isStatus(result[0]) && (result[1] === undefined || isPlainObject(result[1]))) {
      return { status: result[0], headers: result[1] as HttpResponseHeaders | undefined, body: result[2] };
    }
    return { status: 200, body: result };
  }
  if (isHttpResponse(result)) return result;
  return { status: 200, body: result };
}

function stringify(value: unknown): string {
  try {
    // undefined inside a response means "no body" at the top; as a value it is null.
    return JSON.stringify(value) ?? 'null';
  } catch (err) {
    if (!(err instanceof TypeError) || !/BigInt/i.test(err.message)) throw err;
    // As the RPC reply encoder does: a BigInt becomes its decimal string.
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null';
  }
}

/** The format nameko's web entrypoint answers errors with. */
export function errorText(error: { name: string; message: string }): string {
  // A thrown error goes through the same codec as an RPC error reply (error-codec.ts): its
  // type as callers see it, and no internals in the message. The web server's own answers
  // (404, 405, a bad URL) are name and message already.
  return error instanceof Error ? httpErrorText(error) : `Error: ${error.name}: ${error.message}\n`;
}

/**
 * The response for a thrown error: an HttpError's own status, 400 for an expected
 * error (ExpectedError, or a class in the method's `expected`), 500 otherwise.
 */
export function errorResponse(error: Error, expected: boolean): HttpResponse<string> {
  const status = httpStatusOf(error) ?? (expected ? 400 : 500);
  const own = httpStatusOf(error) === undefined ? undefined : (error as { headers?: unknown }).headers;
  return { status, headers: { ...(isPlainObject(own) ? (own as HttpResponseHeaders) : {}), 'content-type': TEXT_TYPE }, body: errorText(error) };
}

// Any ExpectedError carrying a 4xx/5xx `status` answers with it, not just HttpError: a
// @cpuBound method's error comes back from its pool thread as a copy that keeps the
// ExpectedError prototype but not the HttpError class. Other errors never choose their
// status: an HTTP client library's error with `status: 404` from an upstream call is
// this server's 500, not the caller's 404.
function httpStatusOf(error: Error): number | undefined {
  if (error instanceof HttpError) return error.status;
  const status = (error as { status?: unknown }).status;
  return error instanceof ExpectedError && isStatus(status) && status >= 400 ? status : undefined;
}

/** Serialize and send. Throws (before anything is sent) when the response is invalid. */
export function writeResponse(res: ServerResponse, out: HttpResponse, closeConnection = false): void {
  if (res.headersSent || res.destroyed) return;
  if (!isStatus(out.status)) throw new RangeError(`HTTP status must be an integer from 100 to 599, got ${String(out.status)}`);
  let payload: string | Uint8Array | undefined;
  let type: string | undefined;
  const body = out.body;
  if (body === undefined) {
    payload = undefined;
  } else if (typeof body === 'string') {
    payload = body;
    type = TEXT_TYPE;
  } else if (body instanceof Uint8Array) {
    payload = body;
    type = BYTES_TYPE;
  } else if (body instanceof ArrayBuffer) {
    payload = new Uint8Array(body);
    type = BYTES_TYPE;
  } else {
    payload = stringify(body);
    type = JSON_TYPE;
  }

  const headers: Record<string, string | number | readonly string[]> = {};
  if (type !== undefined) headers['content-type'] = type;
  if (out.headers) {
    for (const key of Object.keys(out.headers)) {
      const lower = key.toLowerCase();
      // The length is ours: one given by hand that disagrees with the body would
      // corrupt the connection for the next request on it.
      if (lower === 'content-length' || lower === 'transfer-encoding') continue;
      headers[lower] = out.headers[key]!;
    }
  }
  // RFC 9110: no body and no Content-Length on 1xx, 204 and 304.
  const bodiless = out.status < 200 || out.status === 204 || out.status === 304;
  if (bodiless) payload = undefined;
  else headers['content-length'] = payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (closeConnection) headers['connection'] = 'close';
  res.writeHead(out.status, headers as Record<string, string | number | string[]>);
  res.end(payload);
}
