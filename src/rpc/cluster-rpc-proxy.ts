// ClusterRpcProxy: the long-lived client for scripts and web servers.
//
//     await using rpc = await ClusterRpcProxy.connect(loadConfig('config.yaml'));
//     await rpc.greeting_service.hello('world');
//
// One connection and one reply queue per client, any number of calls in flight. Make one
// per process and share it: connecting costs a TCP and AMQP handshake plus a queue
// declaration, far more than a call.

import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { resolveConfig, type ConfigInput } from '../config-input.js';
import { EnokiError } from '../errors.js';
import { createLogger } from '../logger.js';
import { createTransport } from '../transport/create-transport.js';
import type { Transport } from '../transport/transport.js';
import { ReplyListener, type CallOptions } from './reply-listener.js';
import { serviceProxy, type AnyServiceProxy, type ServiceProxy } from './service-proxy.js';
import type { ContextData } from '../context-headers.js';
import { publishSettings, type PublishSettings, type RpcPublishOptions } from './publish-settings.js';

/**
 * Options of {@link ClusterRpcProxy.connect}. `serializer`, `deliveryMode` and
 * `publishConfirms` override the config's SERIALIZER, DELIVERY_MODE and PUBLISH_CONFIRMS
 * for this client's requests.
 */
export interface ClientOptions extends RpcPublishOptions {
  /** Context data sent with every call as `nameko.<key>` headers. */
  contextData?: ContextData;
  /** Default per-call timeout in ms (default: RPC_TIMEOUT from config, else none). */
  timeoutMs?: number | null;
  /** Name in the reply queue and the call id stack (nameko: 'standalone_rpc_proxy'). */
  name?: string;
  /** Logger for the client's own messages; default: one made from the config's LOGGING, named `enoki-client`. */
  logger?: Logger;
  /**
   * Seconds connect() waits for the broker when it cannot be reached (STARTUP_TIMEOUT from
   * config by default; 0 = forever). A wrong password or a missing vhost fails at once.
   */
  startupTimeout?: number;
  /** Aborting it ends connect()'s wait for the broker (a server shutting down meanwhile). */
  signal?: AbortSignal;
  /**
   * Use this transport instead of one made from AMQP_URI; the caller owns it.
   *
   * @internal
   */
  transport?: Transport;
}

/** Services by name; with a type map, `ClusterRpcProxy.connect<{ greeting_service: GreetingService }>()`. */
export type ClusterServices<M> = { [K in keyof M]: ServiceProxy<M[K]> };

/**
 * What {@link ClusterRpcProxy.connect} resolves with: the client, whose every other
 * property is a proxy for the service of that name (`client.greeting_service.hello('x')`).
 * With a type map `M` (`{ greeting_service: GreetingService }`) the proxies are typed;
 * without one, any name gives an untyped proxy.
 */
export type ClusterClient<M = Record<string, unknown>> = ClusterRpcProxy &
  (string extends keyof M ? Record<string, AnyServiceProxy> : ClusterServices<M>);

const OWN = new Set<PropertyKey>(['call', 'close', 'withContext', 'service', 'inFlight', 'closed', 'then', 'catch', 'finally', 'constructor', 'toJSON']);

/**
 * The long-lived RPC client for scripts and web servers, as nameko's ClusterRpcProxy:
 * one connection and one reply queue, any number of calls in flight on them, matched by
 * correlation id. Make one per process and share it: connecting costs a TCP and AMQP
 * handshake plus a queue declaration, far more than a call.
 *
 *     await using rpc = await ClusterRpcProxy.connect(loadConfig('config.yaml'));
 *     await rpc.greeting_service.hello('world');
 *
 * Made by {@link ClusterRpcProxy.connect}. After `close()` every call fails with
 * `ENOKI_ERR_CLIENT_CLOSED` rather than hanging.
 */
export class ClusterRpcProxy {
  private closedFlag = false;
  // `rpc.greeting_service` is read on every call; make its proxy once.
  private readonly services = new Map<string, AnyServiceProxy>();

  private constructor(
    private readonly listener: ReplyListener,
    private readonly transport: Transport,
    private readonly ownsTransport: boolean,
    private readonly defaults: { contextData: ContextData; timeoutMs: number | null; callIdStack: string[]; settings: PublishSettings },
    private readonly root: ClusterRpcProxy | null,
  ) {}

  /** Connect once; call `close()` (or `await using`) when done. */
  static async connect<M = Record<string, unknown>>(config?: ConfigInput, options: ClientOptions = {}): Promise<ClusterClient<M>> {
    const resolved = resolveConfig(config);
    // Before connecting: a wrong value fails at once, not after a broker wait.
    const settings = publishSettings(resolved, options, 'ClusterRpcProxy.connect options');
    const name = options.name ?? 'standalone_rpc_proxy';
    const logger = options.logger ?? createLogger(resolved.LOGGING, 'enoki-client');
    const { startupTimeout } = options;
    // A negative or NaN wait would give up at once, silently: refused as the config key would be.
    if (startupTimeout !== undefined && !(typeof startupTimeout === 'number' && startupTimeout >= 0)) {
      throw new EnokiError('ENOKI_ERR_CONFIG_INVALID', ['startupTimeout', 'ClusterRpcProxy.connect options', `expected a number of seconds >= 0, found ${String(startupTimeout)}`]);
    }
    const transportConfig = startupTimeout === undefined ? resolved : { ...resolved, STARTUP_TIMEOUT: startupTimeout };
    const transport = options.transport ?? createTransport(transportConfig, `enoki client ${name}`, logger);
    if (!options.transport) await openUnlessAborted(transport, options.signal);
    const listener = new ReplyListener(transport, resolved.rpc_exchange, name, logger);
    try {
      await listener.start();
    } catch (err) {
      if (!options.transport) await transport.close();
      // Aborted just as the connection came up: the reply queue found it closed.
      throw options.signal?.aborted ? connectAborted() : err;
    }
    const timeoutMs = options.timeoutMs !== undefined ? options.timeoutMs : resolved.RPC_TIMEOUT === null ? null : resolved.RPC_TIMEOUT * 1000;
    const client = new ClusterRpcProxy(
      listener,
      transport,
      !options.transport,
      // A standalone caller has one stable call id, like nameko's 'standalone_rpc_proxy.call.<uuid>'.
      { contextData: { ...options.contextData }, timeoutMs, callIdStack: [`${name}.call.${randomUUID()}`], settings },
      null,
    );
    return client.asProxy() as ClusterClient<M>;
  }

  private asProxy(): this {
    return new Proxy(this, {
      get(target, prop, receiver) {
        if (typeof prop !== 'string' || OWN.has(prop) || prop in target) return Reflect.get(target, prop, receiver);
        return target.service(prop);
      },
    });
  }

  /** Calls waiting for a reply on this client (shared by its withContext views). */
  get inFlight(): number {
    return this.listener.inFlight;
  }

  /** True once the client (for a view: the client it came from) was closed. */
  get closed(): boolean {
    return (this.root ?? this).closedFlag;
  }

  /** The proxy for one service: `client.service('greeting_service').hello('x')`. */
  service<S = unknown>(name: string): unknown extends S ? AnyServiceProxy : ServiceProxy<S> {
    let proxy = this.services.get(name);
    if (!proxy) {
      // call() applies this client's defaults, so the proxy adds none of its own.
      proxy = serviceProxy((service, method, args, options) => this.call(service, method, args, options), name, () => ({}));
      this.services.set(name, proxy);
    }
    return proxy as never;
  }

  /** Call `<service>.<method>` directly; kwargs and options as a Python caller would pass them. */
  call(service: string, method: string, args: unknown[] = [], options: CallOptions = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(new EnokiError('ENOKI_ERR_CLIENT_CLOSED', [`${service}.${method}`]));
    return this.listener.call(service, method, args, {
      ...options,
      contextData: { ...this.defaults.contextData, ...options.contextData },
      callIdStack: this.defaults.callIdStack,
      timeoutMs: options.timeoutMs !== undefined ? options.timeoutMs : this.defaults.timeoutMs,
    }, this.defaults.settings);
  }

  /**
   * A view of this client that adds context data to every call (a user id, a request
   * id), sharing its connection: what a web server makes per request. Closing the view
   * does not close the client.
   */
  withContext<M = Record<string, unknown>>(contextData: ContextData): ClusterClient<M> {
    const view = new ClusterRpcProxy(
      this.listener,
      this.transport,
      false,
      { ...this.defaults, contextData: { ...this.defaults.contextData, ...contextData } },
      this.root ?? this,
    );
    return view.asProxy() as ClusterClient<M>;
  }

  /** Fail pending calls, stop consuming replies and close the connection (if owned). */
  async close(): Promise<void> {
    if (this.root) return; // a view owns nothing
    if (this.closedFlag) return;
    this.closedFlag = true;
    await this.listener.close();
    if (this.ownsTransport) await this.transport.close();
  }

  /** Close the client at the end of an `await using` scope, as `close()` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Open `transport`; an abort of `signal` meanwhile closes it, and connect() fails saying so. */
async function openUnlessAborted(transport: Transport, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) throw connectAborted();
  const onAbort = (): void => void transport.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await transport.open();
  } catch (err) {
    throw signal?.aborted ? connectAborted() : err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function connectAborted(): EnokiError {
  return new EnokiError('ENOKI_ERR_CLIENT_CLOSED', ['(connect aborted while waiting for the broker)']);
}
