// The socket options of every AMQP connection enoki opens: Nagle off, a limit on how long
// one attempt may stall, the connection's name for the management UI, and TLS material.

import { readFileSync } from 'node:fs';
import type { TlsConfig } from '../config.js';

/**
 * How long a connection attempt (TCP, TLS and AMQP handshake) may go without progress
 * before it is abandoned and retried. amqplib has no such limit by default, so one
 * attempt into a silent network, or to a broker that accepts but never answers, would
 * stall recovery for good. Scaled with the heartbeat, the user's word on how fast a
 * dead peer must be noticed.
 */
export function connectTimeoutMs(heartbeatSeconds: number): number {
  if (heartbeatSeconds <= 0) return 10_000;
  return Math.min(10_000, Math.max(2_000, heartbeatSeconds * 2_000));
}

/** The socket options amqplib gets for a config: TLS material read from the configured paths. */
export function amqpSocketOptions(connectionName: string, tls: TlsConfig | null | undefined, heartbeatSeconds = 60): Record<string, unknown> {
  const socketOptions: Record<string, unknown> = {
    // Nagle + delayed ACK costs ~40 ms per sequential request/reply; always off.
    noDelay: true,
    timeout: connectTimeoutMs(heartbeatSeconds),
    clientProperties: { connection_name: connectionName, product: 'enoki' },
  };
  if (tls) {
    if (tls.ca) socketOptions.ca = [readFileSync(tls.ca)];
    if (tls.cert) socketOptions.cert = readFileSync(tls.cert);
    if (tls.key) socketOptions.key = readFileSync(tls.key);
    if (tls.passphrase) socketOptions.passphrase = tls.passphrase;
    socketOptions.rejectUnauthorized = tls.rejectUnauthorized;
  }
  return socketOptions;
}
