// RpcProxy: the dependency through which a service calls another service.
//
//     other_rpc = new RpcProxy<GreetingService>('greeting_service');
//     ... await this.other_rpc.hello(name)
//
// Every RpcProxy field of a service shares the container's one reply queue
// ('rpc.reply-<service>-<uuid>', as nameko). Nested calls carry the caller's context data
// and call id stack, so `nameko.call_id_stack` grows one entry per hop.

import { DependencyProvider } from '../dependency-provider.js';
import type { ExtensionHost } from '../extension-host.js';
import type { WorkerContext } from '../worker-context.js';
import { ReplyListener } from './reply-listener.js';
import { publishSettings, type PublishSettings, type RpcPublishOptions } from './publish-settings.js';
import { serviceProxy, type AnyServiceProxy, type ServiceProxy } from './service-proxy.js';

/**
 * Options of {@link RpcProxy}: `new RpcProxy<GreetingService>('greeting_service', { timeoutMs: 5000 })`.
 * `serializer`, `deliveryMode` and `publishConfirms` override the service's SERIALIZER,
 * DELIVERY_MODE and PUBLISH_CONFIRMS for the calls made through this field.
 */
export interface RpcProxyOptions extends RpcPublishOptions {
  /** Per-call timeout in milliseconds (default: RPC_TIMEOUT from config, else none); null waits forever. */
  timeoutMs?: number | null;
}

export function containerReplyListener(container: ExtensionHost): () => Promise<ReplyListener> {
  return () =>
    container.sharedExtension('rpc.reply-listener', async () => {
      const transport = await container.getTransport();
      const listener = new ReplyListener(transport, container.config.rpc_exchange, container.serviceName, container.logger);
      await listener.start();
      return listener;
    });
}

class RpcProxyProvider extends DependencyProvider<AnyServiceProxy> {
  private listener: (() => Promise<ReplyListener>) | null = null;
  private settings: PublishSettings | null = null;

  constructor(
    readonly targetService: string,
    private readonly proxyOptions: RpcProxyOptions = {},
  ) {
    super();
  }

  override async start(): Promise<void> {
    this.settings = this.publishSettings();
    this.listener = containerReplyListener(this.container);
    await this.listener();
  }

  override async stop(): Promise<void> {
    await this.closeListener();
  }

  override async kill(): Promise<void> {
    await this.closeListener();
  }

  private async closeListener(): Promise<void> {
    const get = this.listener;
    this.listener = null;
    if (get) await (await get().catch(() => undefined))?.close('the service stopped');
  }

  private publishSettings(): PublishSettings {
    return publishSettings(this.container.config, this.proxyOptions, `RpcProxy('${this.targetService}') options`);
  }

  getDependency(ctx: WorkerContext): AnyServiceProxy {
    const config = this.container.config;
    const timeoutMs = this.proxyOptions.timeoutMs !== undefined ? this.proxyOptions.timeoutMs : config.RPC_TIMEOUT === null ? null : config.RPC_TIMEOUT * 1000;
    const getListener = this.listener ?? containerReplyListener(this.container);
    const settings = (this.settings ??= this.publishSettings());
    return serviceProxy(
      async (service, method, args, options) => (await getListener()).call(service, method, args, options, settings),
      this.targetService,
      () => ({ contextData: ctx.contextData, callIdStack: ctx.callIdStack, timeoutMs }),
    );
  }
}

/** Typed by the target service class: `new RpcProxy<GreetingService>('greeting_service')`. */
export const RpcProxy = RpcProxyProvider as unknown as
  /**
   * Declares the dependency, as a field of the calling service:
   * `other_rpc = new RpcProxy<GreetingService>('greeting_service')`. Inside a method the
   * field is a {@link ServiceProxy} whose calls carry the current call's context data and
   * call id stack; every RpcProxy field of a service shares the container's one reply queue.
   *
   * @typeParam S - The target service's class, so that method names, arguments and results
   *   are checked at compile time; left out, any method with any arguments.
   * @param targetService - The name of the service to call (its `static name`).
   * @param options - The per-call timeout.
   */
  new <S = Record<string, (...args: any[]) => any>>(
    targetService: string,
    options?: RpcProxyOptions,
  ) => ServiceProxy<S>;

export { RpcProxyProvider };
