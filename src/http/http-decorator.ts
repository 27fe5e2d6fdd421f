// @http: the HTTP entrypoint kind and its decorator. One HttpEntrypoint
// (http-entrypoint.ts) serves every @http route of a container. It is imported statically:
// a dynamic import() inside a copy of enoki that a CommonJS loader compiled would load a
// second, ES module copy of the HTTP layer with its own web server registry.

import type { MethodDecorator } from '../decorators.js';
import { checkDecoratorOptions } from '../decorator-options.js';
// Only the public entrypoint API (exported from 'enoki'): a user's kind is made the same way.
import { defineEntrypointKind, markEntrypoint } from '../entrypoint.js';
import { EnokiError } from '../errors.js';
import { HttpEntrypoint, type HttpRoute } from './http-entrypoint.js';

/** The HTTP entrypoint kind: one entrypoint adds every route of the service to the shared web server. */
export const httpEntrypoint = defineEntrypointKind<HttpRoute>({
  name: 'http',
  create: (host, marked) => new HttpEntrypoint(host, marked),
});

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Options of {@link http}. */
export interface HttpOptions {
  /** Errors that are the caller's fault: answered 400 and logged at warn level without a stack. */
  expected?: ReadonlyArray<abstract new (...args: never[]) => Error>;
  /**
   * Fields of the request body masked in every log line enoki writes and in
   * `ctx.redactedArgs`: `['password', 'card.number', 'items[].secret']`, relative to
   * `request.body`. The method still receives them.
   */
  sensitiveArguments?: readonly string[];
}

/**
 * Marks a method as an HTTP entrypoint on the process's web server
 * (WEB_SERVER_ADDRESS): `@http('GET', '/hello/:name')`. Several methods may be given
 * as 'GET,POST'. `{ expected: [InvalidInput] }` declares caller errors (400), as for `@rpc`.
 */
export function http(method: string, path: string, options: HttpOptions = {}): MethodDecorator {
  if (typeof method !== 'string' || typeof path !== 'string') {
    // `decorate(C, { page: http })` calls http itself as the decorator.
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['http', typeof path === 'string' ? path : '?', "http takes a verb and a path: @http('GET', '/x'), or { page: http('GET', '/x') } in decorate()"]);
  }
  const methods = method.split(',').map((m) => m.trim().toUpperCase());
  for (const m of methods) {
    if (!HTTP_METHODS.has(m)) throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['http', `${method} ${path}`, `unknown HTTP method ${m}`]);
  }
  if (!path.startsWith('/')) throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['http', `${method} ${path}`, 'the path must start with /']);
  checkDecoratorOptions('http', options, ['expected', 'sensitiveArguments']);
  // Body fields, so paths below the request (the first argument)'s `body`.
  const sensitive = Array.isArray(options.sensitiveArguments) ? options.sensitiveArguments.map((p) => (typeof p === 'string' ? `0.body.${p}` : p)) : options.sensitiveArguments;
  // One route per verb of 'GET,POST', each a mark of its own.
  return markEntrypoint('http', httpEntrypoint, methods.map((verb) => ({ method: verb, path })), { expected: options.expected, sensitiveArguments: sensitive });
}
