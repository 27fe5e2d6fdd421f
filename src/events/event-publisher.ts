// Publishing one event, for both dispatchers (the EventDispatcher dependency and the
// standalone eventDispatcher): declare the source's exchange, publish the payload as
// nameko does, and wait for the broker's confirm. An event nobody is bound for is dropped
// by the broker, and that is not an error (nameko publishes events without `mandatory`).
// enoki does set `mandatory`, only so that the broker says so: the flag is not part of
// the message (a consumer sees the same message either way), and the dispatchers count
// and log such events at debug level instead of failing.

import { EnokiError } from '../errors.js';
import { UnroutableError, type Transport } from '../transport/transport.js';
import { checkEventType, encodeEvent, eventExchange } from './event-wire.js';
import { JSON_SERIALIZER, type Serializer } from '../serializer.js';
import { endWhenSettled, startClientSpan } from '../tracing/client-span.js';
import { tracingOn } from '../tracing/otel.js';

/**
 * Publish `payload` as a `sourceService` event of type `eventType`, with `headers` (the
 * `nameko.*` context headers inside a call, none standalone), in `serializer`'s format
 * (SERIALIZER; nameko's JSON by default). Resolves once the broker has
 * confirmed it, with whether any queue was bound for it; rejects with ENOKI_ERR_EVENT_TYPE /
 * ENOKI_ERR_EVENT_PAYLOAD for what cannot be an event, and with the transport's error when
 * it cannot be published.
 */
export async function publishEvent(
  transport: Transport,
  sourceService: string,
  eventType: string,
  payload: unknown,
  headers: Record<string, unknown>,
  serializer: Serializer = JSON_SERIALIZER,
): Promise<'routed' | 'unroutable'> {
  checkEventType(`dispatch from ${sourceService}`, eventType);
  const body = encodeEvent(payload, serializer);
  const exchange = eventExchange(sourceService);
  if (!tracingOn()) return publishEncoded(transport, exchange, eventType, body, headers, serializer);
  const span = startClientSpan(`${sourceService}.${eventType}`, headers, { 'messaging.system': 'rabbitmq', 'messaging.destination.name': exchange, 'messaging.rabbitmq.destination.routing_key': eventType });
  const published = publishEncoded(transport, exchange, eventType, body, headers, serializer);
  endWhenSettled(span, published);
  return published;
}

async function publishEncoded(
  transport: Transport,
  exchange: string,
  eventType: string,
  body: Buffer,
  headers: Record<string, unknown>,
  serializer: Serializer,
): Promise<'routed' | 'unroutable'> {
  // Idempotent and cached by the transport; after a reconnect it declares again, so an
  // exchange deleted meanwhile does not close the publish channel with a 404.
  await transport.assertExchange(exchange);
  try {
    await transport.publish(exchange, eventType, body, {
      contentType: serializer.contentType,
      contentEncoding: serializer.contentEncoding,
      deliveryMode: 2,
      priority: 0,
      headers,
      mandatory: true,
    });
  } catch (err) {
    if (err instanceof UnroutableError) return 'unroutable';
    throw err;
  }
  return 'routed';
}

/** Counts the events no queue was bound for, and logs each at debug level. */
export class UnroutableEvents {
  private count = 0;

  constructor(private readonly log: (fields: Record<string, unknown>, message: string) => void) {}

  /** Events dispatched that reached no queue (dropped by the broker, as nameko's would be). */
  get total(): number {
    return this.count;
  }

  note(outcome: 'routed' | 'unroutable', sourceService: string, eventType: string): void {
    if (outcome === 'routed') return;
    this.count++;
    this.log({ exchange: eventExchange(sourceService), eventType, unroutable: this.count }, `no queue is bound for ${sourceService} event ${eventType}; the broker dropped it`);
  }
}

/** The function a dispatcher is: `await dispatch('order_paid', { id })`. */
export type DispatchFunction = (eventType: string, payload?: unknown) => Promise<void>;

/** For a source name given by a user: a service name is what makes a valid exchange name here. */
export function checkSourceService(where: string, sourceService: unknown): string {
  if (typeof sourceService !== 'string' || !/^[A-Za-z0-9_-]+$/.test(sourceService)) {
    throw new EnokiError('ENOKI_ERR_EVENT_SOURCE', [where, JSON.stringify(sourceService)]);
  }
  return sourceService;
}
