// Publishing on the transport's confirm channel, for AmqpTransport.publish.
//
// Every RPC reply and request goes through here, so the usual case (a channel is up) is
// one function call deep: amqplib's publish is called synchronously and the returned
// promise settles from its confirm callback, with no async function, retry loop or copied
// options object per message. Only when there is no channel (reconnecting) or amqplib
// refuses the write because the channel just closed does the slow path run: wait for the
// connection up to the caller's deadline and send again on the next channel.
//
// What a confirm failure means (confirmFailure): a broker nack or a channel-level error
// is final (ENOKI_ERR_PUBLISH); a lost connection leaves the message maybe delivered
// (ENOKI_ERR_DISCONNECTED marked confirmLost, which the RPC client sends again).

import type { Channel, ConfirmChannel } from 'amqplib';
import { EnokiError } from '../errors.js';
import { errorText } from './amqp-connection-options.js';
import type { ReturnTracker } from './publish-returns.js';
import { UnroutableError, type PublishOptions } from './transport.js';

/** What publishing reads from its transport, live. */
export interface PublishHost {
  /** The confirm channel of the live connection, or null while reconnecting. */
  readonly publisher: ConfirmChannel | null;
  readonly closed: boolean;
  /** The broker in use, masked. */
  readonly displayUri: string;
  readonly returns: ReturnTracker;
  /** Why the broker closed a publish channel (a channel-level error, not a lost connection). */
  readonly channelErrors: WeakMap<Channel, Error>;
  /** Resolves once a publish channel is up; rejects at `deadline` (epoch ms) or when closed. */
  waitForConnection(deadline: number): Promise<void>;
  /** `text` with the broker URI and its password masked. */
  scrub(text: string): string;
}

/** What a publish attempt on one channel came to: sent (and confirmed, if asked), or never left. */
const NOT_SENT = Symbol('not sent');

/**
 * Publish one message; resolves when the broker confirmed it (or, with `confirm: false`,
 * once it is written to the channel). See AmqpTransport.publish.
 */
export function publishMessage(host: PublishHost, exchange: string, routingKey: string, body: Buffer, options: PublishOptions, waitMs?: number): Promise<void> {
  if (host.closed) return Promise.reject(closedError(host));
  const publisher = host.publisher;
  if (publisher) {
    const attempt = publishOn(host, publisher, exchange, routingKey, body, options);
    if (attempt !== NOT_SENT) return attempt;
  }
  return publishWhenConnected(host, exchange, routingKey, body, options, waitMs);
}

/** The slow path: no channel, or the channel closed under the write; wait and send again until `waitMs`. */
async function publishWhenConnected(host: PublishHost, exchange: string, routingKey: string, body: Buffer, options: PublishOptions, waitMs?: number): Promise<void> {
  const deadline = waitMs === undefined || !Number.isFinite(waitMs) ? Infinity : Date.now() + Math.max(0, waitMs);
  for (;;) {
    if (host.closed) throw closedError(host);
    const publisher = host.publisher;
    if (!publisher) {
      await host.waitForConnection(deadline);
      continue;
    }
    const attempt = publishOn(host, publisher, exchange, routingKey, body, options);
    if (attempt !== NOT_SENT) return attempt;
    if (Date.now() >= deadline) {
      throw new EnokiError('ENOKI_ERR_DISCONNECTED', [host.displayUri, `could not publish to ${exchange}/${routingKey} within ${waitMs} ms`]);
    }
    // Its 'close' event normally comes with the failure; give it a moment if not.
    if (host.publisher === publisher) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** One attempt on `publisher`: the confirm's promise, or NOT_SENT when the channel was already closed (nothing left). */
function publishOn(
  host: PublishHost,
  publisher: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: Buffer,
  options: PublishOptions,
): Promise<void> | typeof NOT_SENT {
  const confirm = options.confirm !== false;
  // A return arrives before the confirm of its message: watched from before the publish.
  const tracked = options.mandatory && confirm ? host.returns.track(exchange, routingKey, body, options.correlationId) : undefined;
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const confirmed = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  try {
    // amqplib reads the options it knows by name (PublishOptions uses its names; `confirm`
    // is not one of them), so they go as they are, not copied. false from amqplib means
    // its buffer is full: the message is still queued and will be confirmed; callers see
    // back-pressure through the confirm latency.
    publisher.publish(exchange, routingKey, body, options, (err: unknown) => {
      if (!confirm) return;
      const returned = tracked?.pending.returned;
      tracked?.release();
      if (err) settle.reject(confirmFailure(host, publisher, `${exchange}/${routingKey}`, err));
      else if (returned) settle.reject(new UnroutableError(exchange, routingKey));
      else settle.resolve();
    });
  } catch (err) {
    tracked?.release();
    // The channel was closed before this message left: nothing was sent, so it goes again
    // on the next channel. Anything else (a header table too large) is final.
    if ((err as Error)?.name === 'IllegalOperationError') return NOT_SENT;
    return Promise.reject(new EnokiError('ENOKI_ERR_PUBLISH', [`${exchange}/${routingKey}`, host.scrub(errorText(err))], { cause: err }));
  }
  // PUBLISH_CONFIRMS false: written to the channel is all the caller waits for.
  if (!confirm) settle.resolve();
  return confirmed;
}

/** Why a publish was not confirmed: a broker nack or channel error (final), or a lost connection (maybe delivered). */
function confirmFailure(host: PublishHost, publisher: ConfirmChannel, target: string, err: unknown): Error {
  const channelError = host.channelErrors.get(publisher);
  if (channelError) return new EnokiError('ENOKI_ERR_PUBLISH', [target, host.scrub(channelError.message)], { cause: channelError });
  if (host.closed) return new EnokiError('ENOKI_ERR_DISCONNECTED', [host.displayUri, `the transport was closed before the broker confirmed the publish to ${target}`], { cause: err });
  if (errorText(err) === 'channel closed') {
    const lost = new EnokiError(
      'ENOKI_ERR_DISCONNECTED',
      [host.displayUri, `the connection dropped before the broker confirmed the publish to ${target}; it may or may not have been delivered`],
      { cause: err },
    );
    return Object.assign(lost, { confirmLost: true } as const);
  }
  return new EnokiError('ENOKI_ERR_PUBLISH', [target, host.scrub(errorText(err))], { cause: err });
}

function closedError(host: PublishHost): EnokiError {
  return new EnokiError('ENOKI_ERR_DISCONNECTED', [host.displayUri, 'the transport is closed']);
}
