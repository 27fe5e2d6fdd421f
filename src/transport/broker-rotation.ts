// Which node of an AMQP_URI list the next connection attempt goes to, and how long it
// waits first. amqplib's recovering connection retries one address; it reads that
// address (an Options.Connect object) afresh on every attempt, so amqp-connect.ts keeps
// one such object and rewrites it from `current` before each attempt.
//
// Order: `ordered` goes down the list, a reconnect starting with the URI after the one it
// lost (the lost node is tried last: it is the one least likely to answer); `shuffled`
// does the same over an order drawn afresh for every round, so a fleet of clients
// restarted together does not pile onto the first node. Within a round the next node is
// tried almost at once (a dead node must not cost the others a back-off); between rounds
// the usual capped exponential back-off applies.

import type { Options } from 'amqplib';
import type { AmqpUriOrder } from '../config-amqp-uri.js';

/** One broker of the list: the URI amqplib gets (password included) and its masked form. */
export interface BrokerAddress {
  readonly url: string;
  readonly displayUri: string;
}

/** Back-off between rounds; the same curve as a single URI's (amqp-connect.ts RECOVERY). */
export interface RotationBackoff {
  initialDelay: number;
  maxDelay: number;
  factor: number;
  jitter: number;
}

/** Delay before trying the next node of the same round, ms (jittered ±50 %). */
export const NEXT_NODE_DELAY_MS = 100;

export class BrokerRotation {
  private order: number[];
  private position = 0;

  constructor(
    readonly brokers: readonly BrokerAddress[],
    private readonly mode: AmqpUriOrder,
    private readonly random: () => number = Math.random,
  ) {
    this.order = this.newOrder();
  }

  /** The broker the next attempt goes to. */
  get current(): BrokerAddress {
    return this.brokers[this.order[this.position]!]!;
  }

  /** Index in the list (as configured) of `current`. */
  get currentIndex(): number {
    return this.order[this.position]!;
  }

  /** On to the next broker, after `current` failed or was lost; a new round reshuffles. */
  advance(): void {
    this.position++;
    if (this.position < this.order.length) return;
    const last = this.order[this.order.length - 1]!;
    this.position = 0;
    this.order = this.newOrder();
    // Never the same node twice in a row across a reshuffle (with more than one node).
    if (this.order.length > 1 && this.order[0] === last) [this.order[0], this.order[1]] = [this.order[1]!, this.order[0]!];
  }

  /**
   * amqplib's `calculateDelay`: `attempt` counts from 1 since the last successful
   * connection (or since the start). Every attempt moves one node on, so an attempt whose
   * number is a multiple of the list length starts a new round: only that one backs off.
   */
  delay(attempt: number, backoff: RotationBackoff): number {
    const n = this.brokers.length;
    if (attempt % n !== 0) return Math.round(NEXT_NODE_DELAY_MS * (0.5 + this.random()));
    const round = attempt / n;
    const cappedBase = backoff.maxDelay / (1 + backoff.jitter);
    const base = Math.min(cappedBase, backoff.initialDelay * backoff.factor ** (round - 1));
    const jitter = base * backoff.jitter;
    return Math.max(0, Math.round(base + (this.random() * 2 - 1) * jitter));
  }

  private newOrder(): number[] {
    const order = this.brokers.map((_, i) => i);
    if (this.mode === 'shuffled') {
      // Fisher-Yates.
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    return order;
  }
}

/**
 * `url` as the Options.Connect object amqplib reads on each attempt, with the same
 * meaning as the string form: guest/guest when the URI names no user, user and password
 * percent-decoded, the vhost left encoded (amqplib decodes it), tuning from the query.
 * Every field is set (undefined when absent) so that writing one broker over another
 * leaves nothing of the previous behind.
 */
export function connectFields(url: string): Required<Omit<Options.Connect, 'credentials'>> {
  const parts = new URL(url);
  const query = parts.searchParams;
  const int = (key: string): number | undefined => (query.has(key) ? Number.parseInt(query.get(key)!, 10) : undefined);
  const named = parts.username !== '' || parts.password !== '';
  const fields = {
    protocol: parts.protocol.replace(/:$/, ''),
    hostname: parts.hostname.replace(/^\[|\]$/g, ''),
    port: parts.port === '' ? undefined : Number(parts.port),
    username: named ? decode(parts.username) : undefined,
    password: named ? decode(parts.password) : undefined,
    locale: query.get('locale') ?? undefined,
    frameMax: int('frameMax'),
    maxFrameSize: int('maxFrameSize'),
    heartbeat: int('heartbeat'),
    vhost: parts.pathname.slice(1),
    channelMax: int('channelMax'),
  };
  return fields as Required<Omit<Options.Connect, 'credentials'>>;
}

/** Percent-decoding that keeps a malformed sequence as it is (as amqplib's `unescape` does). */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
