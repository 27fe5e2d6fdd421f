// eventDispatcher(config): dispatch events from outside any service (a script, a web
// handler), as nameko.standalone.events.event_dispatcher.
//
//     const dispatch = await eventDispatcher(loadConfig('config.yaml'));
//     await dispatch('shop', 'order_placed', { id: 1 });
//     await dispatch.close();
//
// One connection per dispatcher; make one and keep it. Events carry no context headers
// (nameko's standalone dispatcher sends none).

import type { Logger } from 'pino';
import { loadConfig, type EnokiConfig } from '../config.js';
import { EnokiError } from '../errors.js';
import { createLogger } from '../logger.js';
import { createTransport } from '../transport/create-transport.js';
import type { Transport } from '../transport/transport.js';
import { serializerNamed } from '../serializer.js';
import { checkSourceService, publishEvent, UnroutableEvents } from './event-publisher.js';

/** Options of {@link eventDispatcher}. */
export interface EventDispatcherOptions {
  /** Where the dispatcher logs (unroutable events at debug level); default: one made from the config's LOGGING. */
  logger?: Logger;
  /**
   * Use this transport instead of one made from AMQP_URI; the caller owns it (close() leaves it open).
   *
   * @internal
   */
  transport?: Transport;
}

/** `await dispatch(sourceService, eventType, payload)`; close() when done. */
export interface StandaloneEventDispatcher {
  (sourceService: string, eventType: string, payload?: unknown): Promise<void>;
  /** Events dispatched that no queue was bound for: dropped by the broker, logged at debug level. */
  readonly unroutable: number;
  /** Close the connection (a dispatch after close() rejects). */
  close(): Promise<void>;
  /** close(), for `await using dispatch = await eventDispatcher(config)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Connect and return a dispatcher: a config object, a config file path, or the defaults. */
export async function eventDispatcher(config?: EnokiConfig | string, options: EventDispatcherOptions = {}): Promise<StandaloneEventDispatcher> {
  const resolved = typeof config === 'string' || config === undefined ? loadConfig(config) : config;
  const logger = options.logger ?? createLogger(resolved.LOGGING, 'enoki-events');
  const transport = options.transport ?? createTransport(resolved, 'enoki event dispatcher', logger);
  if (!options.transport) await transport.open();
  let closed = false;
  const unroutable = new UnroutableEvents((fields, message) => logger.debug(fields, message));
  const dispatch = async (sourceService: string, eventType: string, payload: unknown = null): Promise<void> => {
    if (closed) throw new EnokiError('ENOKI_ERR_DISPATCHER_CLOSED', [`dispatch(${JSON.stringify(sourceService)}, ${JSON.stringify(eventType)})`]);
    checkSourceService('eventDispatcher', sourceService);
    unroutable.note(await publishEvent(transport, sourceService, eventType, payload, {}, serializerNamed(resolved.SERIALIZER)), sourceService, eventType);
  };
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (!options.transport) await transport.close();
  };
  Object.defineProperty(dispatch, 'unroutable', { get: () => unroutable.total, enumerable: true });
  return Object.assign(dispatch, { close, [Symbol.asyncDispose]: close }) as StandaloneEventDispatcher;
}
