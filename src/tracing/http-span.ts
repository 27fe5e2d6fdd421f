// Standard HTTP server attributes on the span of an @http call, as OpenTelemetry's semantic
// conventions for HTTP name them (stable since semconv 1.23): what a tracing backend groups
// and filters HTTP spans by. The span keeps enoki's name, `<service>.<method>`.

import { SpanStatusCode } from '@opentelemetry/api';
import type { IncomingMessage } from 'node:http';
import type { WorkerContext } from '../worker-context.js';
import { callSpan } from './call-span.js';

// The methods the conventions know; any other is `_OTHER`, with the method as sent beside it
// (an attribute's values stay few).
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY']);

/**
 * The attributes known when an HTTP request reaches its route: method, route pattern (the
 * `@http` path, `/orders/:id`), path without the query (which may carry secrets), scheme,
 * protocol version, client address and user agent.
 */
export function httpRequestAttributes(req: IncomingMessage, route: string, path: string): Record<string, string> {
  const method = req.method ?? 'GET';
  const attributes: Record<string, string> = {
    'http.request.method': KNOWN_METHODS.has(method) ? method : '_OTHER',
    'http.route': route,
    'url.path': path,
    'url.scheme': 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http',
    'network.protocol.version': req.httpVersion,
  };
  if (!KNOWN_METHODS.has(method)) attributes['http.request.method_original'] = method;
  if (req.socket.remoteAddress) attributes['client.address'] = req.socket.remoteAddress;
  const agent = req.headers['user-agent'];
  if (agent) attributes['user_agent.original'] = agent;
  return attributes;
}

/**
 * Records the status of the response on the call's span, if the call is traced. A 5xx marks
 * the span failed (the conventions' rule for server spans; a 4xx is the client's error);
 * a method that threw has marked it already.
 */
export function recordHttpStatus(ctx: WorkerContext, status: number): void {
  const span = callSpan(ctx);
  if (!span) return;
  span.setAttribute('http.response.status_code', status);
  if (status >= 500) {
    span.setAttribute('error.type', String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
}
