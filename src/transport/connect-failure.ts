// Why a connection to the broker failed, as one coded error per cause. amqplib reports
// every failure as a bare Error whose text is all there is to go on (a refused vhost
// arrives as "Expected ConnectionOpenOk; got <ConnectionClose channel:0>"), so this file
// reads the socket error code first and the text second, and keeps the raw text in the
// message (scrubbed of the password) for what the classification cannot say.

import { EnokiError, type ErrorCode } from '../errors.js';

/** What an error message may say about the broker: never the password. */
export interface BrokerTarget {
  /** The URI with its password masked. */
  readonly displayUri: string;
  /** `host:port`, with the scheme's default port filled in. */
  readonly address: string;
  readonly host: string;
  readonly port: string;
  readonly user: string;
  /** The vhost, decoded ('/' for an empty path, as amqplib does). */
  readonly vhost: string;
  readonly tls: boolean;
}

/** The parts of `uri` that an error may name. `displayUri` is the masked form of `uri`. */
export function brokerTarget(uri: string, displayUri: string): BrokerTarget {
  const url = new URL(uri);
  const tls = url.protocol === 'amqps:';
  const port = url.port || (tls ? '5671' : '5672');
  const host = url.hostname || 'localhost';
  const path = url.pathname.replace(/^\//, '');
  return {
    displayUri,
    address: `${host}:${port}`,
    host,
    port,
    user: decodeURIComponent(url.username) || 'guest',
    vhost: path === '' ? '/' : decodeURIComponent(path),
    tls,
  };
}

// Node's certificate verification failures (tls.TLSSocket#authorizationError codes).
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

// amqplib's words for bytes that are not AMQP frames where the handshake expects them.
const NOT_AMQP = /Frame size \d+ exceeds|Unknown frame type|Invalid frame|Expected ConnectionStart|Frame on channel != 0 during handshake|Expected connection\.secure/i;

/**
 * The coded error for a failed connection attempt. `scrub` removes the password from any
 * text taken from `err`. Unknown failures keep ENOKI_ERR_CONNECT (retryable: a broker
 * that is starting says odd things).
 */
export function classifyConnectError(err: unknown, target: BrokerTarget, scrub: (text: string) => string): EnokiError {
  const code = typeof err === 'object' && err !== null ? String((err as { code?: unknown }).code ?? '') : '';
  const text = scrub(err instanceof Error ? err.message : String(err)).trim();
  const { displayUri, address } = target;
  const make = (errorCode: ErrorCode, args: unknown[]): EnokiError => new EnokiError(errorCode, args, { cause: err instanceof Error ? scrubbedCause(err, text) : undefined });

  if (/ACCESS[-_]REFUSED|\b403\b/.test(text)) return make('ENOKI_ERR_BROKER_AUTH', [displayUri, target.user, target.user]);
  if (/NOT[-_]ALLOWED|\b530\b|Expected ConnectionOpenOk; got <ConnectionClose/.test(text)) {
    return make('ENOKI_ERR_BROKER_VHOST', [displayUri, JSON.stringify(target.vhost), target.user, shellWord(target.vhost), shellWord(target.vhost), target.user]);
  }
  if (code === 'ECONNREFUSED') return make('ENOKI_ERR_BROKER_REFUSED', [displayUri, address]);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') return make('ENOKI_ERR_BROKER_HOST', [displayUri, target.host, code]);
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /ETIMEDOUT/.test(text)) {
    return make('ENOKI_ERR_BROKER_TIMEOUT', [displayUri, address, text, target.port]);
  }
  if (CERTIFICATE_CODES.has(code)) {
    return make('ENOKI_ERR_BROKER_TLS', [displayUri, `${code}: ${text}`, "give the CA that signed the broker's certificate as AMQP_SSL.ca, and connect by a host name the certificate names"]);
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(text)) {
    return make('ENOKI_ERR_BROKER_TLS', [displayUri, `${address} does not speak TLS: ${code || text}`, "use amqp:// (and no AMQP_SSL) for this port, or RabbitMQ's TLS port (5671)"]);
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    const certificateAsked = /CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE/i.test(code);
    const next = certificateAsked
      ? 'the broker wants a client certificate it trusts: set AMQP_SSL.cert and AMQP_SSL.key (and passphrase) to one signed by a CA the broker knows'
      : "compare the broker's TLS settings (versions, ciphers) with this client's; openssl s_client -connect " + address + ' shows the handshake';
    return make('ENOKI_ERR_BROKER_TLS', [displayUri, `${code}: ${text}`, next]);
  }
  if (NOT_AMQP.test(text)) return make('ENOKI_ERR_BROKER_PROTOCOL', [displayUri, address, text]);
  if (code === 'ECONNRESET' || code === 'EPIPE' || /closed abruptly|Unexpected close|socket hang up/i.test(text)) {
    return make('ENOKI_ERR_BROKER_HANDSHAKE', [displayUri, address, code || text]);
  }
  return make('ENOKI_ERR_CONNECT', [displayUri, text]);
}

/**
 * The cause chained to the coded error, with the password removed: a logger that prints
 * `err.cause` must not find it there either.
 */
function scrubbedCause(err: Error, text: string): Error {
  const cause = new Error(text);
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) Object.assign(cause, { code });
  return cause;
}

/** A vhost as one shell word for the suggested rabbitmqctl command. */
function shellWord(value: string): string {
  return /^[\w./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The same error, its message saying how long startup waited: an operator reading
 * "connection refused" must see that it was not a one-off.
 */
export function withStartupNote(err: EnokiError, attempts: number, waitedMs: number): EnokiError {
  err.message += ` (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${(waitedMs / 1000).toFixed(1)} s; STARTUP_TIMEOUT sets how long startup waits for the broker)`;
  return err;
}
