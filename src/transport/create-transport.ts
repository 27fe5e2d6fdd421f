// Picks the transport for an AMQP_URI: memory:// runs in-process, everything else is
// RabbitMQ. Never falls back from one to the other: a service started against a broker
// that cannot be reached fails with an error naming the URI.

import type { Logger } from 'pino';
import type { EnokiConfig } from '../config.js';
import { maskUri, uriList } from '../uri-secrets.js';
import { AmqpTransport } from './amqp-transport.js';
import { MemoryTransport } from './memory-transport.js';
import type { Transport } from './transport.js';

export function createTransport(config: EnokiConfig, connectionName: string, logger: Logger): Transport {
  // A list is never memory:// (the schema refuses that).
  const uris = uriList(config.AMQP_URI);
  if (uris[0]!.startsWith('memory:')) return new MemoryTransport(uris[0]!);
  return new AmqpTransport({
    uri: uris.map((uri) => uri.replace(/^pyamqp:/, 'amqp:')),
    displayUri: maskUri(uris[0]!),
    order: config.AMQP_URI_ORDER,
    heartbeat: config.HEARTBEAT,
    tls: config.AMQP_SSL,
    connectionName,
    logger,
    startupTimeoutMs: config.STARTUP_TIMEOUT === 0 ? Infinity : config.STARTUP_TIMEOUT * 1000,
  });
}
