// The limits of enoki's web server: what a client may hold and send. Read from the
// config's `HTTP` section (seconds and bytes, as config.yaml writes them); defaults suit
// production behind nothing, and are tighter than Node's own (60 s for headers, checked
// every 30 s: a client sending one header byte a second kept its socket for a minute and
// more, and a few hundred such clients held every socket of the service).

import type { HttpLimitsConfig } from '../config-schema.js';

export type { HttpLimitsConfig };


/** The limits, resolved, in milliseconds and bytes. */
export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxBodySize: number;
  maxHeaderSize: number;
  maxConnections: number;
  /**
   * How often Node checks connections for the two timeouts. Its default (30 s) let a slow
   * client outlive a 10 s headers timeout by up to 30 s; a tenth of the shortest timeout
   * (at least 100 ms) cuts it within about the timeout.
   */
  checkIntervalMs: number;
}

/** The defaults of the `HTTP` section. */
export const HTTP_LIMIT_DEFAULTS = {
  headers_timeout: 10,
  request_timeout: 30,
  keep_alive_timeout: 5,
  max_header_size: 16_384,
  max_connections: 0,
} as const;

/** Resolves the `HTTP` section; `maxMessageSize` (MAX_MESSAGE_SIZE) is the body limit unless it names one. */
export function httpLimits(section: HttpLimitsConfig | undefined, maxMessageSize: number): HttpLimits {
  const c = { ...HTTP_LIMIT_DEFAULTS, ...section };
  const headersTimeoutMs = c.headers_timeout * 1000;
  // Node requires requestTimeout >= headersTimeout (0 disables it).
  const requestTimeoutMs = c.request_timeout === 0 ? 0 : Math.max(c.request_timeout * 1000, headersTimeoutMs);
  const shortest = Math.min(...[headersTimeoutMs, requestTimeoutMs].filter((ms) => ms > 0), 30_000);
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: c.keep_alive_timeout * 1000,
    maxBodySize: c.max_body_size ?? maxMessageSize,
    maxHeaderSize: c.max_header_size,
    maxConnections: c.max_connections,
    checkIntervalMs: Math.max(100, Math.floor(shortest / 10)),
  };
}
