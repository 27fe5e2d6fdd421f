// @eventHandler(source, eventType, options): nameko's event_handler. Each handler method
// consumes its own queue (named and flagged per handler type, event-wire.ts queueFor),
// bound with the event type to '<source>.events', and each event goes through the
// container's worker path (hooks, max_workers, @cpuBound) with the payload as its one
// argument.
//
// Acknowledgement, as nameko: an event is acknowledged once its worker is over, whether
// the handler succeeded or threw (the error is logged with its stack); with
// `requeueOnError` a failed event goes back to the queue instead. A call given up at
// shutdown goes back to the queue either way, for another instance or the next start.
// A body that is not JSON cannot be handled by anyone: it is logged and dropped
// (dead-lettered when the queue has a DLX), never requeued to loop.

import { checkDecoratorOptions } from '../decorator-options.js';
import { randomUUID } from 'node:crypto';
import { contextFromHeaders } from '../context-headers.js';
import { defineEntrypoint, MethodEntrypoint } from '../entrypoint.js';
import { CallAbandoned, EnokiError } from '../errors.js';
import type { InboundMessage, QueueSpec, Subscription } from '../transport/transport.js';
import { withQueueType } from '../transport/queue-type.js';
import { checkSourceService } from './event-publisher.js';
import { checkEventType, decodeEvent, eventExchange, HANDLER_TYPES, queueFor, type HandlerType } from './event-wire.js';

/** Options of {@link eventHandler}, as nameko's `event_handler` keyword arguments. */
export interface EventHandlerOptions {
  /** How handlers share events (default 'service_pool'; see README "Events"). */
  handlerType?: HandlerType;
  /**
   * Keep events in a durable queue while no instance consumes them (default true). False
   * makes the queue go with its last consumer: events sent meanwhile are lost.
   */
  reliableDelivery?: boolean;
  /** Put the event back on its queue when the handler throws (default false: logged and acknowledged). */
  requeueOnError?: boolean;
  /**
   * broadcast only: what names this instance's queue (default: a fresh uuid per start).
   * A broadcast handler with reliable delivery needs one that survives restarts (the host
   * name, an instance id from config): as nameko, it is refused without one.
   */
  broadcastIdentifier?: string | (() => string);
  /**
   * Arguments masked in every log line enoki writes and in `ctx.redactedArgs` (nameko's
   * `sensitive_arguments`): the payload parameter's name or paths into it, e.g.
   * `['payload.card.number']`, or `['0.card.number']` by position.
   */
  sensitiveArguments?: readonly string[];
}

/** What an @eventHandler mark holds. */
export interface EventHandlerMark {
  sourceService: string;
  eventType: string;
  handlerType: HandlerType;
  reliableDelivery: boolean;
  requeueOnError: boolean;
  broadcastIdentifier: string | (() => string) | undefined;
  /** As given; entrypointDecorator moves them onto the method's marks. */
  sensitiveArguments?: readonly string[];
}

/** One handler method's consumer. */
export class EventHandlerEntrypoint extends MethodEntrypoint<EventHandlerMark> {
  private subscription: Subscription | null = null;
  private queueSpec: QueueSpec | null = null;

  /** The queue this handler consumes; known after setup(). */
  get queue(): QueueSpec | null {
    return this.queueSpec;
  }

  override setup(): void {
    const { options, container, method } = this;
    let broadcastIdentifier: string | undefined;
    if (options.handlerType === 'broadcast') {
      const given = typeof options.broadcastIdentifier === 'function' ? options.broadcastIdentifier() : options.broadcastIdentifier;
      if (given !== undefined && (typeof given !== 'string' || given === '')) {
        throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [container.serviceName, `${method.methodName}: broadcastIdentifier gave ${JSON.stringify(given)}, not a non-empty string`]);
      }
      broadcastIdentifier = given ?? randomUUID().replace(/-/g, '');
    }
    // QUEUE_TYPE quorum: only queues that outlive their consumer (reliable delivery) can be quorum (queue-type.ts).
    this.queueSpec = withQueueType(queueFor({ ...options, serviceName: container.serviceName, methodName: method.methodName, broadcastIdentifier }), container.config.QUEUE_TYPE);
  }

  async start(): Promise<void> {
    const { container, options } = this;
    const transport = await container.getTransport();
    this.subscription = await transport.consume(
      {
        queue: this.queueSpec!,
        exchange: eventExchange(options.sourceService),
        bindings: [options.eventType],
        prefetch: container.config.max_workers,
      },
      (message) => {
        this.handle(message).catch((err) => container.logger.error({ err }, 'unexpected failure handling an event'));
      },
    );
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
    this.subscription = null;
  }

  private async handle(message: InboundMessage): Promise<void> {
    const { container, options, method } = this;
    const where = `${container.serviceName}.${method.methodName}`;
    let payload: unknown;
    try {
      if (message.body.length > container.config.MAX_MESSAGE_SIZE) {
        throw new EnokiError('ENOKI_ERR_BODY_TOO_LARGE', [message.body.length, container.config.MAX_MESSAGE_SIZE]);
      }
      payload = decodeEvent(message.body, message.properties.contentType);
    } catch (err) {
      container.logger.error(
        { event: `${options.sourceService}.${message.routingKey}`, queue: this.queueSpec?.name, reason: (err as Error).message },
        `dropped an event ${where} cannot read`,
      );
      message.nack(false);
      return;
    }
    const { contextData, callIdStack } = contextFromHeaders(message.properties.headers);
    await this.spawn([payload], {
      contextData,
      parentCallIdStack: callIdStack,
      traceHeaders: message.properties.headers,
      handleResult: (_ctx, _result, error) => {
        if (error instanceof CallAbandoned) message.nack(true);
        else if (error && options.requeueOnError) message.nack(true);
        else message.ack();
      },
    });
  }
}

/**
 * Handles `eventType` events dispatched by the service `sourceService`:
 *
 *     @eventHandler('shop', 'order_placed') onPlaced(order: Order) { ... }
 *     @eventHandler('shop', 'order_placed', { handlerType: 'broadcast', reliableDelivery: false }) ...
 *
 * As nameko's `@event_handler(source_service, event_type, handler_type, reliable_delivery,
 * requeue_on_error)`; the method receives the payload.
 */
export const eventHandler = defineEntrypoint('event', EventHandlerEntrypoint, (sourceService: string, eventType: string, options: EventHandlerOptions = {}): EventHandlerMark => {
  const where = `eventHandler(${JSON.stringify(sourceService)}, ${JSON.stringify(eventType)})`;
  checkSourceService(where, sourceService);
  checkEventType(where, eventType);
  checkDecoratorOptions('eventHandler', options, ['handlerType', 'reliableDelivery', 'requeueOnError', 'broadcastIdentifier', 'sensitiveArguments']);
  const handlerType = options.handlerType ?? 'service_pool';
  if (!HANDLER_TYPES.includes(handlerType)) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['eventHandler', where, `handlerType is one of ${HANDLER_TYPES.join(', ')}, not ${JSON.stringify(handlerType)}`]);
  }
  const reliableDelivery = options.reliableDelivery ?? true;
  if (options.broadcastIdentifier !== undefined && handlerType !== 'broadcast') {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['eventHandler', where, "broadcastIdentifier is for handlerType 'broadcast' only"]);
  }
  if (handlerType === 'broadcast' && reliableDelivery && options.broadcastIdentifier === undefined) {
    // nameko's EventHandlerConfigurationError: the default identifier changes on every
    // start, so the queue a reliable broadcast would keep for this instance is never read again.
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [
      'eventHandler',
      where,
      "the default broadcast identifier (a new uuid per start) is not compatible with reliable delivery: pass reliableDelivery: false, or a broadcastIdentifier that survives restarts (e.g. the host name)",
    ]);
  }
  return {
    sourceService,
    eventType,
    handlerType,
    reliableDelivery,
    requeueOnError: options.requeueOnError ?? false,
    broadcastIdentifier: options.broadcastIdentifier,
    sensitiveArguments: options.sensitiveArguments,
  };
});
