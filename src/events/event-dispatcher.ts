// EventDispatcher: the dependency through which a service dispatches its events, as
// nameko's EventDispatcher.
//
//     dispatch = new EventDispatcher();
//     @rpc async pay(id: number) { await this.dispatch('order_paid', { id }); }
//
// Events go to '<this service>.events' with the call's `nameko.*` context headers (its
// context data and call id stack), so a handler's call id stack continues the caller's.
// `await` resolves once the broker has confirmed the event. From a @cpuBound method (a
// pool thread) the call is carried to the main thread like any dependency's.

import { headersFromContext } from '../context-headers.js';
import { dependency, DependencyProvider } from '../dependency-provider.js';
import { EnokiError } from '../errors.js';
import type { Transport } from '../transport/transport.js';
import type { WorkerContext } from '../worker-context.js';
import { serializerNamed } from '../serializer.js';
import { publishEvent, UnroutableEvents, type DispatchFunction } from './event-publisher.js';
import { eventExchange } from './event-wire.js';

class EventDispatcherProvider extends DependencyProvider<DispatchFunction> {
  private transport: Transport | null = null;
  private unroutableEvents: UnroutableEvents | null = null;

  /** Events this service dispatched that no queue was bound for (logged at debug level). */
  get unroutable(): number {
    return this.unroutableEvents?.total ?? 0;
  }

  /** Declares the service's events exchange up front, as nameko does, so handlers can bind to it before the first event. */
  override async start(): Promise<void> {
    const { logger } = this.container;
    this.unroutableEvents ??= new UnroutableEvents((fields, message) => logger.debug(fields, message));
    this.transport = await this.container.getTransport();
    await this.transport.assertExchange(eventExchange(this.container.serviceName));
  }

  override stop(): void {
    this.transport = null;
  }

  override kill(): void {
    this.transport = null;
  }

  getDependency(ctx: WorkerContext): DispatchFunction {
    const { container } = this;
    // The connection of the running service, taken now: a dispatch left running after the
    // service stopped fails on the closed connection rather than open a new one.
    const transport = this.transport;
    return async (eventType, payload = null) => {
      if (!transport) {
        throw new EnokiError('ENOKI_ERR_CONTAINER_STATE', [container.serviceName, container.state, `${this.attrName} cannot dispatch ${eventType}: the service is not running`]);
      }
      const outcome = await publishEvent(transport, container.serviceName, eventType, payload, headersFromContext(ctx.contextData, ctx.callIdStack), serializerNamed(container.config.SERIALIZER));
      this.unroutableEvents?.note(outcome, container.serviceName, eventType);
    };
  }
}

/**
 * A field `dispatch = new EventDispatcher()` holds, in each call, a function
 * `(eventType, payload) => Promise<void>` that dispatches a `<service>` event.
 */
export const EventDispatcher = dependency(EventDispatcherProvider);

export { EventDispatcherProvider };
