// What amqp-transport.ts needs around the connection itself: the socket options a
// config gives (TLS material, Nagle off, a connect timeout scaled with the heartbeat),
// how a lost confirm is marked, and scrubbing the URI's password out of error texts.

import { readFileSync } from 'node:fs';
import type { TlsConfig } from '../config.js';
import { scrubSecrets } from '../uri-secrets.js';

/**
 * Marks the ENOKI_ERR_DISCONNECTED of a publish whose confirm was lost with the
 * connection: the message may or may not have reached the broker, and sending it again
 * on the next connection is the caller's call (at-least-once).
 */
export interface ConfirmLost {
  readonly confirmLost: true;
}

export function isConfirmLost(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as Partial<ConfirmLost>).confirmLost === true;
}

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

// One rule for finding and hiding the broker password, shared with config and the CLI.
export { errorText } from '../uri-secrets.js';

/** `text` with `uri` shown as `displayUri` and the password, raw or decoded, as `***`. */
export function scrub(text: string, uri: string, displayUri: string): string {
  return scrubSecrets(text.split(uri).join(displayUri), uri);
}
