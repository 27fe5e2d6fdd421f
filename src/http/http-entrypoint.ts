// The HTTP entrypoint: a service's @http routes on the process's shared web server.
//
//   request -> route matched (web-server.ts) -> body read and parsed -> HttpRequest built
//   -> container.spawnWorker (fresh instance, dependencies, hooks, max_workers, @cpuBound
//   offload) -> handleResult writes the response -> workerResult / workerTeardown hooks.
//
// As nameko, path parameters are also passed by name to the method's parameters after
// the request: `@http('GET', '/users/:id') get(req, id)`.
//
// The http kind (http-decorator.ts) imports this module only when a container with @http
// methods starts, so a pure RPC service never loads a web server.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { CallAbandoned, EnokiError, ExpectedError } from '../errors.js';
import type { Entrypoint, MarkedMethod } from '../entrypoint.js';
import type { ExtensionHost, SpawnOptions } from '../extension-host.js';
import type { MethodDefinition } from '../service-definition.js';
import { BodyError, hasBody, parseBody, poisonedQueryKey, readBody, type HttpQuery, type HttpRequest } from './request.js';
import { errorResponse, toHttpResponse, writeResponse, type HttpResponse } from './response.js';
import { httpLimits, type HttpLimitsConfig } from './http-limits.js';
import { acquireWebServer, releaseWebServer, type RouteSpec, type WebServer } from './web-server.js';
import { httpRequestAttributes, recordHttpStatus } from '../tracing/http-span.js';
import { tracingOn } from '../tracing/otel.js';

/** One route of an @http method (one per verb of 'GET,POST'): what an @http mark holds. */
export interface HttpRoute {
  method: string;
  path: string;
}

interface Route {
  method: string;
  path: string;
  definition: MethodDefinition;
  /** Names of the path parameters passed after the request, by position. */
  argNames: readonly string[];
}

/** Names of a find-my-way path's parameters: `/a/:id/:file.:ext` gives id, file, ext. */
function pathParams(path: string): Set<string> {
  return new Set([...path.matchAll(/:([A-Za-z0-9_$]+)/g)].map((m) => m[1]!));
}

function routesOf(container: ExtensionHost, marked: ReadonlyArray<MarkedMethod<HttpRoute>>): Route[] {
  const routes: Route[] = [];
  for (const { method: definition, options } of marked) {
    const { method, path } = options;
    const names = pathParams(path);
    const { params, required } = definition.signature;
    const argNames: string[] = [];
    for (let i = 1; i < params.length; i++) {
      const param = params[i]!;
      if (param.rest) break;
      if (param.name !== undefined && names.has(param.name)) {
        argNames.push(param.name);
      } else if (i < required) {
        // Caught at start rather than as a 500 on every request.
        throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [
          container.serviceName,
          `${definition.methodName}() parameter ${i + 1} (${param.name ?? 'a pattern'}) is not a path parameter of ${method} ${path}; ` +
            'an @http method takes the request, then path parameters by name',
        ]);
      } else {
        break;
      }
    }
    routes.push({ method, path, definition, argNames });
  }
  return routes;
}

function isExpected(definition: MethodDefinition, error: Error): boolean {
  if (error instanceof ExpectedError) return true;
  // By name as well: an error copied back from a pool thread may have lost its class.
  return definition.expected?.some((cls: Function) => error instanceof cls || error.name === cls.name) ?? false;
}

/** Serves every @http route of one container on the process's shared web server. */
export class HttpEntrypoint implements Entrypoint {
  private readonly routes: readonly Route[];
  private server: WebServer | null = null;
  private draining = false;
  /** Requests taken and not yet answered: stop() waits for them. */
  private active = 0;
  private idle: (() => void) | null = null;

  constructor(
    private readonly container: ExtensionHost,
    marked: ReadonlyArray<MarkedMethod<HttpRoute>>,
  ) {
    this.routes = routesOf(container, marked);
  }

  async start(): Promise<void> {
    const { container } = this;
    const address = container.config.WEB_SERVER_ADDRESS;
    const limits = httpLimits((container.config as { HTTP?: HttpLimitsConfig }).HTTP, container.config.MAX_MESSAGE_SIZE);
    const server = await acquireWebServer(address, container.logger, container.serviceName, limits);
    try {
      server.addRoutes(container.serviceName, this.routes.map((route): RouteSpec => ({ method: route.method, path: route.path, handler: this.handlerFor(route) })));
    } catch (err) {
      await releaseWebServer(server, false);
      throw err;
    }
    this.server = server;
    this.draining = false;
    const bound = server.boundAddress;
    container.logger.info(
      { routes: this.routes.map((r) => `${r.method} ${r.path} -> ${r.definition.methodName}`) },
      `http on ${bound ? `${bound.address}:${bound.port}` : address}`,
    );
  }

  /** New requests get 503; requests in flight are answered; then the routes go. */
  async stop(): Promise<void> {
    this.draining = true;
    if (this.active > 0) {
      const previous = this.idle;
      await new Promise<void>((resolve) => {
        this.idle = () => {
          previous?.();
          resolve();
        };
      });
    }
    await this.leave(false);
  }

  /** Routes go now; the server, if this was its last service, cuts its connections. */
  async kill(): Promise<void> {
    this.draining = true;
    await this.leave(true);
  }

  private async leave(force: boolean): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.removeRoutes(this.container.serviceName);
    await releaseWebServer(server, force);
  }

  // A counter, not a set of promises: this runs on every request.
  private readonly finished = (): void => {
    if (--this.active === 0 && this.idle) {
      this.idle();
      this.idle = null;
    }
  };

  private handlerFor(route: Route) {
    return (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, query: HttpQuery): void => {
      const server = this.server;
      if (this.draining || !server) {
        this.refuseStopping(res);
        return;
      }
      const poisoned = poisonedQueryKey(query);
      if (poisoned !== undefined) {
        server.sendError(res, 400, new BodyError(400, `invalid query string: ${poisoned}`));
        return;
      }
      this.active++;
      // Most requests have no body: they go to the worker without waiting for one.
      const work = hasBody(req) ? this.readThenDispatch(server, route, req, res, params, query) : this.dispatch(server, route, req, res, params, query, undefined);
      // (No named closures per request: under tsx every one costs a defineProperty.)
      work.then(this.finished, (err: unknown) => this.failed(err, server, req, res));
    };
  }

  private failed(err: unknown, server: WebServer, req: IncomingMessage, res: ServerResponse): void {
    this.container.logger.error({ err }, `unexpected failure serving ${req.method} ${req.url}`);
    if (!res.headersSent) server.sendError(res, 500, { name: 'Error', message: 'internal error' }, {}, true);
    this.finished();
  }

  private refuseStopping(res: ServerResponse): void {
    const body = `Error: ServiceUnavailable: service ${this.container.serviceName} is stopping\n`;
    writeResponse(res, { status: 503, headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': 1 }, body }, true);
  }

  private async readThenDispatch(server: WebServer, route: Route, req: IncomingMessage, res: ServerResponse, params: Record<string, string>, query: HttpQuery): Promise<unknown> {
    let body: unknown;
    try {
      body = parseBody(await readBody(req, server.limits.maxBodySize), req.headers['content-type']);
    } catch (err) {
      if (err instanceof BodyError) {
        const told = err.status === 400 ? new BodyError(400, new EnokiError('ENOKI_ERR_HTTP_BODY', [err.message]).message) : err;
        // A body refused before it was read leaves bytes on the socket: close it.
        server.sendError(res, err.status, told, {}, err.status !== 400);
      } else {
        this.container.logger.debug({ err, url: req.url }, 'request aborted while its body was read');
      }
      return;
    }
    if (this.draining) {
      this.refuseStopping(res);
      return;
    }
    return this.dispatch(server, route, req, res, params, query, body);
  }

  private dispatch(server: WebServer, route: Route, req: IncomingMessage, res: ServerResponse, params: Record<string, string>, query: HttpQuery, body: unknown): Promise<unknown> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const request: HttpRequest = {
      method: req.method ?? 'GET',
      url,
      path: q < 0 ? url : url.slice(0, q),
      params,
      query,
      headers: req.headers,
      body,
    };
    const args: unknown[] = [request];
    for (const name of route.argNames) args.push(params[name]);
    return this.container.spawnWorker(route.definition, args, {
      entrypoint: 'http',
      traceHeaders: req.headers,
      ...(tracingOn() && { traceAttributes: httpRequestAttributes(req, route.path, request.path) }),
      handleResult: this.responder(server, route, res),
    });
  }

  private responder(server: WebServer, route: Route, res: ServerResponse): NonNullable<SpawnOptions['handleResult']> {
    return (ctx, result, error) => {
      const status = this.respond(server, route, res, result, error);
      if (tracingOn()) recordHttpStatus(ctx, status);
    };
  }

  /** Writes the response; returns its status. */
  private respond(server: WebServer, route: Route, res: ServerResponse, result: unknown, error: Error | undefined): number {
    let out: HttpResponse;
    if (error instanceof CallAbandoned) {
      // Aborted at shutdown: the work was not done, and another instance may do it.
      writeResponse(res, { status: 503, headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' }, body: 'Error: ServiceUnavailable: the service is shutting down; try again\n' }, true);
      return 503;
    }
    try {
      out = error ? errorResponse(error, isExpected(route.definition, error)) : toHttpResponse(result);
      writeResponse(res, out, server.closing);
    } catch (err) {
      // The handler returned something that cannot be sent (bad status, a cycle in the
      // JSON, a header with a newline): that is a 500, and the method's fault.
      const cause = err instanceof Error ? err : new Error(String(err));
      this.container.logger.error({ err: cause }, `${this.container.serviceName}.${route.definition.methodName} returned a response that cannot be sent`);
      out = errorResponse(cause, false);
      writeResponse(res, out, server.closing);
    }
    return out.status;
  }
}
