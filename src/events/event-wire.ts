// nameko's events on the wire, read off real captures (test/fixtures/nameko-events/):
//   exchange      '<source service>.events', topic, durable
//   routing key   the event type
//   message       body = the payload as JSON; content_type application/json,
//                 content_encoding utf-8, delivery_mode 2 (persistent), priority 0; the
//                 `nameko.*` context headers when dispatched inside a call, none from a
//                 standalone dispatcher; no reply_to, no correlation id
//                 (with SERIALIZER msgpack: kombu's application/x-msgpack, binary; read
//                 by content type whatever this service's SERIALIZER)
//   queues        by handler type (queueFor below)
// Everything that names, encodes or decodes an event lives here, so the dispatcher, the
// handler and the tests agree on one reading.

import { PoisonedJsonError } from '../untrusted-json.js';
import { JSON_SERIALIZER, serializerForContentType, SPOKEN_CONTENT_TYPES, type Serializer } from '../serializer.js';
import { EnokiError } from '../errors.js';
import type { QueueSpec } from '../transport/transport.js';

export const JSON_CONTENT_TYPE = 'application/json';

/** How a handler shares events with other handlers: nameko's SERVICE_POOL, SINGLETON, BROADCAST. */
export type HandlerType = 'service_pool' | 'singleton' | 'broadcast';

export const HANDLER_TYPES: readonly HandlerType[] = ['service_pool', 'singleton', 'broadcast'];

/** The exchange a service's events are published on. */
export function eventExchange(sourceService: string): string {
  return `${sourceService}.events`;
}

/** What queueFor needs to know about one handler. */
export interface HandlerQueueInput {
  sourceService: string;
  eventType: string;
  handlerType: HandlerType;
  reliableDelivery: boolean;
  /** The handling service and method (service_pool and broadcast queues are named after them). */
  serviceName: string;
  methodName: string;
  /** broadcast only: what tells this instance's queue from the others'. */
  broadcastIdentifier?: string;
}

/**
 * The queue a handler consumes, as nameko declares it:
 * - service_pool: 'evt-<source>-<type>--<service>.<method>', shared by every instance of the
 *   service, so one instance handles each event;
 * - singleton: 'evt-<source>-<type>', shared by every service with such a handler;
 * - broadcast: 'evt-<source>-<type>--<service>.<method>-<identifier>', one per instance.
 * Without reliable delivery the queue is auto-deleted when its consumer goes. Broadcast
 * queues are also exclusive (and so not durable) unless delivery is reliable: an exclusive
 * queue would go with its connection whatever auto_delete says.
 */
export function queueFor(handler: HandlerQueueInput): QueueSpec {
  const { sourceService, eventType, serviceName, methodName } = handler;
  let name: string;
  switch (handler.handlerType) {
    case 'service_pool':
      name = `evt-${sourceService}-${eventType}--${serviceName}.${methodName}`;
      break;
    case 'singleton':
      name = `evt-${sourceService}-${eventType}`;
      break;
    case 'broadcast':
      name = `evt-${sourceService}-${eventType}--${serviceName}.${methodName}-${handler.broadcastIdentifier}`;
      break;
  }
  const exclusive = handler.handlerType === 'broadcast' && !handler.reliableDelivery;
  return { name, durable: !exclusive, autoDelete: !handler.reliableDelivery, exclusive };
}

/**
 * An event payload as the bytes nameko sends: Python's `json.dumps` defaults, i.e. a
 * space after each ',' and ':' and every character outside printable ASCII escaped, so an
 * enoki event and a nameko one with the same payload are the same bytes.
 */
export function encodeEvent(payload: unknown, serializer: Serializer = JSON_SERIALIZER): Buffer {
  if (serializer.name !== 'json') {
    try {
      return serializer.encode(payload === undefined ? null : payload);
    } catch (err) {
      throw new EnokiError('ENOKI_ERR_EVENT_PAYLOAD', [(err as Error).message], { cause: err });
    }
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(payload === undefined ? null : payload, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  } catch (err) {
    throw new EnokiError('ENOKI_ERR_EVENT_PAYLOAD', [(err as Error).message], { cause: err });
  }
  // A function or symbol at the top level stringifies to undefined: not an event.
  if (text === undefined) throw new EnokiError('ENOKI_ERR_EVENT_PAYLOAD', [`a ${typeof payload} is not JSON`]);
  return Buffer.from(pythonSeparators(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** `json` (compact JSON text) with Python's default item and key separators, ', ' and ': '. */
function pythonSeparators(json: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    out += c;
    if (inString) {
      if (c === '\\') out += json[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === ',' || c === ':') {
      out += ' ';
    }
  }
  return out;
}

/** The payload of an event message, in the format its content type names; throws ENOKI_ERR_EVENT_PAYLOAD for a body that is not one. */
export function decodeEvent(body: Buffer, contentType: string | undefined): unknown {
  const serializer = serializerForContentType(contentType);
  if (!serializer) throw new EnokiError('ENOKI_ERR_EVENT_PAYLOAD', [`unsupported content type ${JSON.stringify(contentType)}: ${SPOKEN_CONTENT_TYPES}`]);
  try {
    return serializer.decode(body);
  } catch (err) {
    const why = err instanceof PoisonedJsonError ? `the key ${err.path} is not allowed (prototype poisoning)` : `the body is not ${serializer.name === 'json' ? 'JSON' : 'MessagePack'}: ${(err as Error).message}`;
    throw new EnokiError('ENOKI_ERR_EVENT_PAYLOAD', [why], { cause: err });
  }
}

/** An event type is one AMQP routing key: at most 255 bytes (nameko's EventTypeTooLong). */
export function checkEventType(where: string, eventType: unknown): string {
  if (typeof eventType !== 'string' || eventType.length === 0 || Buffer.byteLength(eventType) > 255) {
    throw new EnokiError('ENOKI_ERR_EVENT_TYPE', [where, JSON.stringify(eventType)]);
  }
  return eventType;
}
