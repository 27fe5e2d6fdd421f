// Why a publish was not confirmed, as the error its caller gets: final (a broker nack, a
// channel error) or "maybe delivered" (the connection went before the confirm came).

import { EnokiError } from '../errors.js';
import { errorText } from '../uri-secrets.js';

/**
 * Marks the ENOKI_ERR_DISCONNECTED of a publish whose confirm was lost with the
 * connection: the message may or may not have reached the broker, and sending it again
 * on the next connection is the caller's call (at-least-once).
 */
export interface ConfirmLost {
  /** Always true: the mark itself. */
  readonly confirmLost: true;
}

/** Whether `err` is a publish failure marked {@link ConfirmLost}. */
export function isConfirmLost(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as Partial<ConfirmLost>).confirmLost === true;
}

/** What the transport knew when the confirm failed. */
export interface PublishState {
  /** Why the broker closed the publish channel, if it did (a channel-level error). */
  channelError: Error | undefined;
  /** The transport was closed by its owner. */
  closed: boolean;
  displayUri: string;
  /** `exchange/routingKey`, for the message. */
  target: string;
  scrub: (text: string) => string;
}

/** The error for a publish whose confirm came back with `err`. */
export function confirmFailure(state: PublishState, err: unknown): Error {
  const { channelError, displayUri, target, scrub } = state;
  if (channelError) return new EnokiError('ENOKI_ERR_PUBLISH', [target, scrub(channelError.message)], { cause: channelError });
  if (state.closed) return new EnokiError('ENOKI_ERR_DISCONNECTED', [displayUri, `the transport was closed before the broker confirmed the publish to ${target}`], { cause: err });
  if (errorText(err) === 'channel closed') {
    const lost = new EnokiError(
      'ENOKI_ERR_DISCONNECTED',
      [displayUri, `the connection dropped before the broker confirmed the publish to ${target}; it may or may not have been delivered`],
      { cause: err },
    );
    return Object.assign(lost, { confirmLost: true } as const);
  }
  return new EnokiError('ENOKI_ERR_PUBLISH', [target, scrub(errorText(err))], { cause: err });
}
