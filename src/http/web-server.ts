// The process's web servers: one node:http server per WEB_SERVER_ADDRESS, shared by every
// service container in the process that has @http methods (nameko's WebServer is a
// SharedExtension for the same reason: two services cannot both listen on one port).
// A container's HTTP entrypoint acquires the server when it starts and releases it when
// it stops; the first acquire listens, the last release closes.
//
// Routing is find-my-way (fastify's router). Everything that is not a route's business
// is answered here: 404 when no route matches the path, 405 with Allow when routes match
// it under other methods, an automatic OPTIONS answer, 400 for a malformed URL and 414
// for an over-long path parameter.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HttpLimits } from './http-limits.js';
import type { AddressInfo } from 'node:net';
import Router from 'find-my-way';
import type { Logger } from 'pino';
import type { EnokiConfig } from '../config.js';
import { EnokiError } from '../errors.js';
import type { HttpQuery } from './request.js';
import { errorText, writeResponse } from './response.js';

/** Handles one matched request; it owns the response from here. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, query: HttpQuery) => void;

export interface RouteSpec {
  method: string;
  path: string;
  handler: RouteHandler;
}

interface RouteStore {
  owner: string;
  handler: RouteHandler;
  /** A HEAD route made for a GET route, replaced by an explicit HEAD route. */
  auto: boolean;
}

type HttpMethod = Router.HTTPMethod;
const METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** Longest path parameter, in characters (fastify's default); longer gives 414. */
const MAX_PARAM_LENGTH = 100;
/** After the last service left, connections still busy get this long before they are cut. */
const CLOSE_GRACE_MS = 5_000;

export class WebServer {
  readonly address: string;
  private readonly host: string;
  private readonly port: number;
  private readonly logger: Logger;
  private readonly server: Server;
  private readonly router: Router.Instance<Router.HTTPVersion.V1>;
  /** Registered routes by `METHOD path`, for removal by owner. */
  private readonly routes = new Map<string, { method: HttpMethod; path: string; store: RouteStore }>();
  private closingFlag = false;
  readonly listening: Promise<void>;
  refs = 0;

  /** The limits the server was made with (the first service's config, for a shared address). */
  readonly limits: HttpLimits;

  constructor(address: string, logger: Logger, limits: HttpLimits) {
    this.limits = limits;
    this.address = address;
    const colon = address.lastIndexOf(':');
    this.host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.port = Number(address.slice(colon + 1));
    this.logger = logger.child({ http: address });
    this.router = Router({
      maxParamLength: MAX_PARAM_LENGTH,
      defaultRoute: (req, res) => this.noRoute(req, res),
      onBadUrl: (path, _req, res) => this.sendError(res, 400, { name: 'BadRequest', message: `malformed URL ${JSON.stringify(path)}` }),
      onMaxParamLength: (_path, _req, res) =>
        this.sendError(res, 414, { name: 'URITooLong', message: `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` }),
    });
    // Compiled lookups: route trees become generated code, recompiled when they change.
    this.router.compile();
    this.server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        maxHeaderSize: limits.maxHeaderSize,
        connectionsCheckingInterval: limits.checkIntervalMs,
      },
      (req, res) => this.router.lookup(req, res),
    );
    if (limits.maxConnections > 0) this.server.maxConnections = limits.maxConnections;
    this.server.on('error', (err) => this.logger.error({ err }, 'web server error'));
    this.listening = new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.host, port: this.port }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /** True once the last service has left: responses then close their connection. */
  get closing(): boolean {
    return this.closingFlag;
  }

  /** Where it listens (the real port when WEB_SERVER_ADDRESS asked for port 0). */
  get boundAddress(): AddressInfo | undefined {
    const info = this.server.address();
    return info !== null && typeof info === 'object' ? info : undefined;
  }

  /** Add one service's routes, all or none. */
  addRoutes(owner: string, specs: readonly RouteSpec[]): void {
    const added: string[] = [];
    try {
      for (const spec of specs) {
        const method = spec.method as HttpMethod;
        added.push(this.add(method, spec.path, { owner, handler: spec.handler, auto: false }));
        // As fastify (exposeHeadRoutes): a GET route answers HEAD too, without a body.
        if (method === 'GET' && !this.router.hasRoute('HEAD', spec.path)) {
          added.push(this.add('HEAD', spec.path, { owner, handler: spec.handler, auto: true }));
        }
      }
    } catch (err) {
      for (const key of added) this.remove(key);
      throw err;
    }
  }

  removeRoutes(owner: string): void {
    for (const [key, route] of [...this.routes]) if (route.store.owner === owner) this.remove(key);
  }

  private add(method: HttpMethod, path: string, store: RouteStore): string {
    const existing = this.router.findRoute(method, path)?.store as RouteStore | undefined;
    if (existing?.auto && !store.auto) {
      // An explicit HEAD route takes the place of the one made for a GET route.
      for (const [key, route] of this.routes) if (route.store === existing) this.remove(key);
    } else if (existing) {
      throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [
        store.owner,
        `route ${method} ${path} is already served by ${existing.owner === store.owner ? 'another of its methods' : `service ${existing.owner}`} on ${this.address}`,
      ]);
    }
    try {
      this.router.on(method, path, dispatch, store);
    } catch (err) {
      throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [store.owner, `route ${method} ${path}: ${(err as Error).message}`], { cause: err });
    }
    const key = `${method} ${path}`;
    this.routes.set(key, { method, path, store });
    return key;
  }

  private remove(key: string): void {
    const route = this.routes.get(key);
    if (!route) return;
    this.routes.delete(key);
    this.router.off(route.method, route.path);
  }

  private noRoute(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const allowed = METHODS.filter((m) => m !== req.method && this.router.find(m, url)?.store);
    if (allowed.length === 0) {
      this.sendError(res, 404, { name: 'NotFound', message: `no route for ${req.method} ${stripQuery(url)}` });
      return;
    }
    if (!allowed.includes('OPTIONS')) allowed.push('OPTIONS');
    const allow = allowed.join(', ');
    if (req.method === 'OPTIONS') {
      writeResponse(res, { status: 204, headers: { allow } }, this.closingFlag);
      return;
    }
    this.sendError(res, 405, { name: 'MethodNotAllowed', message: `${req.method} is not allowed on ${stripQuery(url)}; allowed: ${allow}` }, { allow });
  }

  /**
   * An error response in nameko's `Error: <type>: <message>` text form. A thrown `error`
   * (a refused body) goes through the one error codec (error-codec.ts), as a method's
   * errors do; the server's own answers (404, 405, a bad URL) are a name and a message.
   */
  sendError(res: ServerResponse, status: number, error: Error | { name: string; message: string }, headers: Record<string, string> = {}, close = false): void {
    writeResponse(
      res,
      { status, headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' }, body: errorText(error) },
      close || this.closingFlag,
    );
  }

  /**
   * Stop listening. Idle keep-alive connections close now; busy ones finish their
   * response (with `Connection: close`), and are cut after a grace period. `force` cuts
   * every connection at once.
   */
  async close(force: boolean): Promise<void> {
    this.closingFlag = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (force) this.server.closeAllConnections();
    else this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }
}

function dispatch(
  this: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  params: Record<string, string | undefined>,
  store: RouteStore,
  query: Record<string, string>,
): void {
  store.handler(req, res, params as Record<string, string>, query);
}

function stripQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

// --- The process-wide registry ----------------------------------------------------------

const servers = new Map<string, WebServer>();

/**
 * The server for an address, listening; made by the first caller (`owner` is the service
 * asking, for the error when the address cannot be listened on). Pair with releaseWebServer.
 */
export async function acquireWebServer(address: string, logger: Logger, owner: string, limits: HttpLimits): Promise<WebServer> {
  let server = servers.get(address);
  if (!server) {
    server = new WebServer(address, logger, limits);
    servers.set(address, server);
  }
  server.refs++;
  try {
    await server.listening;
  } catch (err) {
    server.refs--;
    if (servers.get(address) === server) servers.delete(address);
    throw new EnokiError('ENOKI_ERR_CONTAINER_STATE', [owner, 'starting', `cannot listen on ${address}: ${(err as Error).message}`], { cause: err });
  }
  return server;
}

/** Drop one reference; the last one closes the server. */
export async function releaseWebServer(server: WebServer, force: boolean): Promise<void> {
  server.refs--;
  if (server.refs > 0) return;
  if (servers.get(server.address) === server) servers.delete(server.address);
  await server.close(force);
}

/** Where the process's web server listens, as {@link webServerAddress} reports it. */
export interface WebServerAddress {
  /** The bound address, as the system reports it (`0.0.0.0` for all interfaces). */
  host: string;
  /** The bound port: the system's choice when the config asked for port 0. */
  port: number;
  /** For connecting from this machine: a wildcard host is given as loopback. */
  url: string;
}

/**
 * Where the web server for a config (its WEB_SERVER_ADDRESS) listens, while a service
 * with `@http` methods runs in this process; undefined otherwise. With port 0 in the
 * config, this is how to learn the port the system chose.
 */
export function webServerAddress(config: Pick<EnokiConfig, 'WEB_SERVER_ADDRESS'> | string): WebServerAddress | undefined {
  const address = typeof config === 'string' ? config : config.WEB_SERVER_ADDRESS;
  const info = servers.get(address)?.boundAddress;
  if (!info) return undefined;
  const host = info.address === '0.0.0.0' ? '127.0.0.1' : info.address === '::' ? '::1' : info.address;
  return { host: info.address, port: info.port, url: `http://${host.includes(':') ? `[${host}]` : host}:${info.port}` };
}
