// express middleware: one RPC client for the app, a per-request view on `req.rpc`.
//
//     import { expressRpc } from 'enoki/express';
//     const rpc = expressRpc({ config: 'config.yaml', contextHeaders: { 'x-request-id': 'request_id' } });
//     app.use(rpc);
//     app.get('/hello/:name', async (req, res) => res.send(await req.rpc.greeting_service.hello(req.params.name)));
//     rpc.closeWith(app.listen(3000));
//
// express has no lifecycle of its own, so the client connects on the first request (or
// `await rpc.connect()` at startup, to fail early) and closes when the http.Server it
// serves closes: the one given to closeWith(), else the one the first request came in on.
// Only express's types are imported: express stays the application's dependency.

import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ClusterClient } from '../rpc/cluster-rpc-proxy.js';
import { SharedRpcClient, type WebRpcOptions } from './shared-client.js';

/**
 * Options of {@link expressRpc}: the client's config and connect options, and where each
 * request's context data comes from (`contextHeaders`, or `context`, which receives the
 * express request). See {@link WebRpcOptions}.
 */
export type ExpressRpcOptions = WebRpcOptions<Request>;

declare global {
  // biome-ignore lint: express's own augmentation point is this global namespace
  namespace Express {
    interface Request {
      /** The shared RPC client with this request's context data (set by expressRpc()). */
      rpc: ClusterClient;
    }
  }
}

/**
 * A server whose `'close'` event ends the client: an `http.Server` (what `app.listen()`
 * returns), an `https.Server`, any `net.Server`.
 */
export type Closable = {
  /** Run `listener` once, when the server closes (after its last connection ends). */
  once(event: 'close', listener: () => void): unknown;
};

/**
 * What {@link expressRpc} returns: the middleware itself (`app.use(rpc)`), which sets
 * `req.rpc` on every request, with the controls of the client behind it.
 */
export interface ExpressRpcMiddleware extends RequestHandler {
  /** The shared client behind the middleware. */
  readonly shared: SharedRpcClient<Request>;
  /** Connect now (startup), instead of on the first request. */
  connect(): Promise<ClusterClient>;
  /** Close the client when this server closes. */
  closeWith(server: Closable): ExpressRpcMiddleware;
  /**
   * Close the client now: calls still waiting for a reply fail, and later requests are
   * refused (`next()` receives an `ENOKI_ERR_CLIENT_CLOSED` error).
   */
  close(): Promise<void>;
}

/**
 * The express middleware: `app.use(expressRpc(options))`. One {@link SharedRpcClient} for
 * the app; every request gets `req.rpc`, a view of that client carrying the request's
 * context data.
 *
 * express has no startup or shutdown hook, so the client connects on the first request
 * (or at `await rpc.connect()`, to fail early) and closes when the server closes: the one
 * given to `closeWith()`, else the one the first request came in on. A failed connect is
 * passed to `next()`, and the next request tries again.
 */
export function expressRpc(options: ExpressRpcOptions = {}): ExpressRpcMiddleware {
  const shared = new SharedRpcClient<Request>(options);
  let attached = false;
  const attach = (server: Closable): void => {
    if (attached) return;
    attached = true;
    shared.closeWith(server);
  };

  const middleware = (req: Request, _res: Response, next: NextFunction): void => {
    if (!attached) {
      // net.Server sets `socket.server` on every socket it accepts.
      const server = (req.socket as { server?: Closable } | undefined)?.server;
      if (server && typeof server.once === 'function') attach(server);
    }
    const client = shared.client;
    if (client) {
      req.rpc = shared.view(client, req);
      next();
      return;
    }
    shared.connect().then(
      (connected) => {
        req.rpc = shared.view(connected, req);
        next();
      },
      (err: unknown) => next(err),
    );
  };

  return Object.assign(middleware, {
    shared,
    connect: () => shared.connect(),
    closeWith(server: Closable): ExpressRpcMiddleware {
      attach(server);
      return this as ExpressRpcMiddleware;
    },
    close: () => shared.close(),
  }) as ExpressRpcMiddleware;
}
