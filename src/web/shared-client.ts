// One RPC client per web server process, shared by every request: the lesson of
// flask_nameko. Connecting costs a TCP and AMQP handshake and a reply-queue declaration,
// far more than a call, so a client made per request caps a gateway at a few hundred
// requests a second and leaves a trail of connections on the broker.
//
// Each request gets a `withContext` view of the one client: same connection and reply
// queue, plus that request's context data (a request id, a user id) sent as `nameko.*`
// headers on every call it makes. Closing a view does nothing, so a handler cannot
// close the shared client by mistake.
//
// The fastify plugin, the express middleware and the node:http helper are thin shells
// around this class.

import type { IncomingHttpHeaders } from 'node:http';
import type { EnokiConfig } from '../config.js';
import { EnokiError } from '../errors.js';
import { ClusterRpcProxy, type ClientOptions, type ClusterClient } from '../rpc/cluster-rpc-proxy.js';
import type { ContextData } from '../context-headers.js';

/** The part of a request the shared client reads: node:http, express and fastify requests all fit. */
export interface RequestWithHeaders {
  headers: IncomingHttpHeaders;
}

/**
 * Options of the web clients ({@link SharedRpcClient}, {@link nodeHttpRpc}, the fastify
 * plugin and the express middleware): the client's config and connect options, and where
 * each request's context data comes from. `Req` is the framework's request type, the one
 * `context` receives.
 */
export interface WebRpcOptions<Req = RequestWithHeaders> {
  /** The client's config, or a config file path (default: enoki's defaults). */
  config?: EnokiConfig | string;
  /** Options for ClusterRpcProxy.connect: timeoutMs, name, contextData for every call, logger. */
  client?: ClientOptions;
  /**
   * Request headers copied into the context data of the request's calls, as
   * `{ 'x-request-id': 'request_id' }`: header name (any case) -> context key (sent as
   * `nameko.request_id`). Only map headers you trust: a client can send any header, so
   * map an identity header (`x-user-id` -> `user_id`) only behind a proxy that sets it.
   */
  contextHeaders?: Readonly<Record<string, string>>;
  /** Context data computed from the request (after authentication, say); wins over contextHeaders. */
  context?: (req: Req) => ContextData | undefined;
}

/**
 * One RPC client per web server process, shared by every request (the lesson of
 * flask_nameko). Connecting costs a TCP and AMQP handshake and a reply-queue declaration,
 * far more than a call, so a client made per request caps a gateway at a few hundred
 * requests a second and leaves a trail of connections on the broker.
 *
 * Each request gets a view of the one client ({@link SharedRpcClient.forRequest | forRequest}):
 * the same connection and reply queue, plus that request's context data, sent as
 * `nameko.*` headers on every call it makes. Closing a view does nothing, so a handler
 * cannot close the shared client by mistake. The fastify plugin, the express middleware
 * and {@link nodeHttpRpc} are thin shells around this class; use it directly with any
 * other framework.
 */
export class SharedRpcClient<Req extends RequestWithHeaders = RequestWithHeaders> {
  private readonly options: WebRpcOptions<Req>;
  private readonly headerMap: ReadonlyArray<readonly [header: string, key: string]>;
  private connecting: Promise<ClusterClient> | null = null;
  private connected: ClusterClient | null = null;
  private closedFlag = false;
  private closing: Promise<void> | null = null;
  // close() during a connect that waits for the broker (STARTUP_TIMEOUT) ends the wait.
  private readonly aborter = new AbortController();

  constructor(options: WebRpcOptions<Req> = {}) {
    this.options = options;
    this.headerMap = Object.entries(options.contextHeaders ?? {}).map(([header, key]) => [header.toLowerCase(), key] as const);
  }

  /** The client, once connected; undefined before and after. */
  get client(): ClusterClient | undefined {
    return this.connected ?? undefined;
  }

  /** True once `close()` was called; a closed client refuses every request. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Connect, once. Concurrent callers share the attempt; a failed attempt is not kept,
   * so the next request tries again (the broker may be back).
   */
  connect(): Promise<ClusterClient> {
    if (this.closedFlag) return Promise.reject(new EnokiError('ENOKI_ERR_CLIENT_CLOSED', ['(shared web client)']));
    if (this.connected) return Promise.resolve(this.connected);
    if (!this.connecting) {
      const attempt = ClusterRpcProxy.connect(this.options.config, { ...this.options.client, signal: this.aborter.signal }).then(
        async (client) => {
          if (this.closedFlag) {
            // close() ran while we were connecting: this client has no owner left.
            await client.close();
            throw new EnokiError('ENOKI_ERR_CLIENT_CLOSED', ['(shared web client)']);
          }
          this.connected = client;
          return client;
        },
        (err: unknown) => {
          this.connecting = null;
          throw err;
        },
      );
      this.connecting = attempt;
    }
    return this.connecting;
  }

  /** Context data for one request's calls. */
  contextFor(req: Req): ContextData {
    const data: ContextData = {};
    for (const [header, key] of this.headerMap) {
      const value = req.headers[header];
      if (value !== undefined) data[key] = Array.isArray(value) ? value[0] : value;
    }
    const computed = this.options.context?.(req);
    return computed ? Object.assign(data, computed) : data;
  }

  /** The client as one request should use it, once connected (sync; see `forRequest`). */
  view(client: ClusterClient, req: Req): ClusterClient {
    return client.withContext(this.contextFor(req));
  }

  /** A view of the shared client carrying the request's context data. */
  async forRequest(req: Req): Promise<ClusterClient> {
    return this.view(this.connected ?? (await this.connect()), req);
  }

  /** Close the client when `server` emits 'close' (after its last connection ends). */
  closeWith(server: { once(event: 'close', listener: () => void): unknown }): this {
    server.once('close', () => {
      void this.close().catch(() => undefined);
    });
    return this;
  }

  /** Close the client: calls still waiting for a reply fail. Later requests are refused. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closedFlag = true;
      this.aborter.abort();
      const client = this.connected;
      const pending = this.connecting;
      this.connected = null;
      this.closing = (async () => {
        if (client) await client.close();
        // A connect in progress sees closedFlag and closes its own client.
        else if (pending) await pending.catch(() => undefined);
      })();
    }
    return this.closing;
  }

  /** Close the client at the end of an `await using` scope, as `close()` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
