// The AMQP transport's subscriptions: declaring a queue, its exchange and bindings, then
// consuming it, and doing all of that again on every new connection or when a channel
// closes on its own. Split from amqp-transport.ts, which owns the connection and the
// publish channel and tells this class when a connection is up (startAll) or gone
// (disconnected).
//
// consume() racing a reconnect: every start of a subscription claims it for one connection
// (`sub.model`); a start that finishes on an older connection sees it is stale and steps
// back, so a subscription never consumes twice, and a start that fails because the
// connection went is left to the reconnect instead of failing consume(). A channel closed
// on its own (a queue deleted, a consumer cancelled by the broker) is re-opened on the same
// connection, with back-off. Acks on a channel that died are no-ops: the broker has
// requeued those deliveries.

import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { AckBatcher } from './ack-batcher.js';
import { errorText } from './amqp-connection-options.js';
import type { ConsumeSpec, InboundMessage, Subscription } from './transport.js';

/** What the subscriptions read of the transport, live. */
export interface SubscriptionHost {
  readonly closed: boolean;
  /** The connection that is set up now, if any. */
  readonly model: ChannelModel | null;
  /** True until that connection's 'close' fired. */
  isLive(model: ChannelModel): boolean;
  /** Channels whose 'close' has not fired: acks on any other are no-ops. */
  readonly openChannels: WeakSet<Channel>;
  readonly logger: Logger;
  /** The text with the URI's password masked. */
  scrub(text: string): string;
  /** Resolves once a connection is set up; rejects at `deadline` (epoch ms) or when closed. */
  waitForConnection(deadline: number): Promise<void>;
  /** Throws ENOKI_ERR_DISCONNECTED once the transport is closed. */
  assertOpen(): void;
}

/** One consume() for as long as it is not cancelled, across connections. */
interface LiveSubscription {
  spec: ConsumeSpec;
  onMessage: (message: InboundMessage) => void;
  /** The channel consuming now; null while (re)starting or disconnected. */
  channel: Channel | null;
  consumerTag: string | null;
  /** The connection the latest start of this subscription was made on. */
  model: ChannelModel | null;
  cancelled: boolean;
  /** Failed restarts in a row on a live connection, for the back-off. */
  failures: number;
  restartTimer: NodeJS.Timeout | null;
}

/** Back-off for re-consuming (and re-opening the publish channel): from this, doubling... */
export const RESTART_DELAY_MS = 500;
/** ...up to this. */
export const MAX_RESTART_DELAY_MS = 30_000;

export class AmqpSubscriptions {
  private readonly subscriptions = new Set<LiveSubscription>();
  /** The ack batcher of every consumer channel still open. */
  private readonly batchers = new Map<Channel, AckBatcher>();

  constructor(private readonly host: SubscriptionHost) {}

  /**
   * A connection was set up: start every live subscription on it. Throws only when that
   * connection went meanwhile; a queue that cannot be consumed is retried on its own.
   */
  async startAll(model: ChannelModel): Promise<void> {
    for (const sub of this.subscriptions) {
      if (sub.cancelled) continue;
      try {
        await this.startSubscription(model, sub);
      } catch (err) {
        if (!this.host.isLive(model)) throw err;
        this.subscriptionFailed(model, sub, err);
      }
    }
  }

  /** The connection went: every subscription waits for the next one. */
  disconnected(): void {
    for (const sub of this.subscriptions) {
      sub.channel = null;
      sub.consumerTag = null;
      // A cancelled subscription was kept only so deliveries on its channel could be acked.
      if (sub.cancelled) this.subscriptions.delete(sub);
    }
  }

  /** Send the acks every channel is holding for the end of the turn (before a close); true if any were sent. */
  flushAcks(): boolean {
    let sent = false;
    for (const batcher of this.batchers.values()) {
      try {
        sent = batcher.flush() || sent;
      } catch {
        /* closed under us: requeued by the broker */
      }
    }
    return sent;
  }

  /**
   * Close every consumer channel, waiting up to `timeoutMs` for the broker: their acks
   * reach it before the connection's close (see AmqpTransport.close).
   */
  async closeChannels(timeoutMs: number): Promise<void> {
    for (const sub of this.subscriptions) sub.cancelled = true;
    const closing = [...this.batchers.keys()].map((channel) => channel.close().catch(() => undefined));
    if (closing.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closing), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** The transport closed: no restart is pending any more. */
  closed(): void {
    for (const sub of this.subscriptions) if (sub.restartTimer) clearTimeout(sub.restartTimer);
    this.subscriptions.clear();
  }

  /**
   * Declare and consume for `sub` on `model`. Claims the subscription for that
   * connection first: if a newer start claims it meanwhile, this one closes its channel
   * and returns. Rejects when a step fails (on a live connection, a real refusal).
   */
  private async startSubscription(model: ChannelModel, sub: LiveSubscription): Promise<void> {
    const { spec } = sub;
    sub.model = model;
    sub.channel = null;
    sub.consumerTag = null;
    const stale = (): boolean => sub.model !== model || sub.cancelled || this.host.closed;
    const channel = await model.createChannel();
    this.host.openChannels.add(channel);
    channel.on('error', (err: Error) => {
      this.host.logger.warn({ queue: spec.queue.name, err: this.host.scrub(err.message) }, 'AMQP consumer channel error');
      try {
        spec.onChannelError?.(err);
      } catch (listenerErr) {
        this.host.logger.error({ err: listenerErr }, 'an onChannelError listener threw');
      }
    });
    channel.on('close', () => {
      this.host.openChannels.delete(channel);
      this.batchers.delete(channel);
      // A channel can close alone (a queue deleted under us, the consumer cancelled).
      // Unless the connection went or the subscription ended, consume again on a fresh one.
      if (sub.channel !== channel || sub.cancelled || this.host.closed) return;
      sub.channel = null;
      sub.consumerTag = null;
      this.scheduleRestart(model, sub);
    });
    const abandon = async (): Promise<void> => {
      await channel.close().catch(() => undefined);
    };
    if (stale()) return abandon();
    if (spec.prefetch > 0) await channel.prefetch(spec.prefetch);
    await channel.assertExchange(spec.exchange, 'topic', { durable: true, autoDelete: false });
    await channel.assertQueue(spec.queue.name, {
      durable: spec.queue.durable,
      autoDelete: spec.queue.autoDelete,
      exclusive: spec.queue.exclusive,
      arguments: spec.queue.arguments,
    });
    for (const key of spec.bindings) await channel.bindQueue(spec.queue.name, spec.exchange, key);
    if (stale()) return abandon();
    sub.channel = channel;
    const acks = new AckBatcher(channel);
    this.batchers.set(channel, acks);
    const { consumerTag } = await channel.consume(spec.queue.name, (msg) => {
      if (msg === null) {
        // The broker cancelled this consumer (its queue was deleted). Closing the channel
        // makes the 'close' handler start again, which declares the queue anew.
        this.host.logger.warn({ queue: spec.queue.name }, 'the broker cancelled a consumer (queue deleted?); consuming again');
        channel.close().catch(() => undefined);
        return;
      }
      sub.onMessage(this.wrap(channel, acks, msg));
    });
    if (sub.cancelled && sub.channel === channel) {
      // cancel() ran while the consume was on its way: it could not cancel it then.
      await channel.cancel(consumerTag).catch(() => undefined);
      return;
    }
    if (sub.channel !== channel) return;
    sub.consumerTag = consumerTag;
    sub.failures = 0;
  }

  private subscriptionFailed(model: ChannelModel, sub: LiveSubscription, err: unknown): void {
    // Cancelled meanwhile (a reply queue given up as lost with its node): nothing retries it.
    if (sub.cancelled) return;
    sub.failures++;
    this.host.logger.error(
      { queue: sub.spec.queue.name, err: this.host.scrub(errorText(err)), attempt: sub.failures },
      'cannot consume; retrying with back-off',
    );
    this.scheduleRestart(model, sub);
  }

  private scheduleRestart(model: ChannelModel, sub: LiveSubscription): void {
    if (sub.restartTimer || sub.cancelled || this.host.closed) return;
    const delay = Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** Math.min(sub.failures, 10));
    sub.restartTimer = setTimeout(() => {
      sub.restartTimer = null;
      // Only on the connection this was scheduled for: a new one starts it itself.
      if (this.host.closed || sub.cancelled || sub.model !== model || !this.host.isLive(model) || sub.channel !== null) return;
      this.startSubscription(model, sub).catch((err: unknown) => {
        if (this.host.isLive(model) && sub.model === model) this.subscriptionFailed(model, sub, err);
      });
    }, delay);
    sub.restartTimer.unref();
  }

  private wrap(channel: Channel, acks: AckBatcher, msg: ConsumeMessage): InboundMessage {
    let settled = false;
    const owed = acks.track(msg);
    const live = (): boolean => !settled && !this.host.closed && this.host.openChannels.has(channel);
    const { properties, fields } = msg;
    return {
      body: msg.content,
      properties: {
        contentType: properties.contentType,
        contentEncoding: properties.contentEncoding,
        correlationId: properties.correlationId,
        replyTo: properties.replyTo,
        deliveryMode: properties.deliveryMode,
        priority: properties.priority,
        messageId: properties.messageId,
        headers: properties.headers,
      },
      exchange: fields.exchange,
      routingKey: fields.routingKey,
      redelivered: fields.redelivered,
      // An ack or nack on a channel that is gone would throw; the broker has already
      // requeued that delivery, so there is nothing left to settle. Acks leave at the end
      // of the turn, coalesced (ack-batcher.ts).
      ack: () => {
        if (!live()) return;
        settled = true;
        acks.ack(owed);
      },
      nack: (requeue: boolean) => {
        if (!live()) return;
        settled = true;
        try {
          acks.nack(owed, requeue);
        } catch {
          /* closed under us: requeued by the broker */
        }
      },
      publishOnChannel: (exchange, routingKey, body, options) => {
        if (!live()) return false;
        try {
          channel.publish(exchange, routingKey, body, options);
          return true;
        } catch {
          return false; // closed under us: the message is requeued and answered again
        }
      },
    };
  }

  async consume(spec: ConsumeSpec, onMessage: (message: InboundMessage) => void): Promise<Subscription> {
    this.host.assertOpen();
    const sub: LiveSubscription = { spec, onMessage, channel: null, consumerTag: null, model: null, cancelled: false, failures: 0, restartTimer: null };
    this.subscriptions.add(sub);
    for (;;) {
      const model = this.host.model;
      if (!model) {
        // Disconnected, or a connection being set up: its setup starts every
        // subscription it finds, this one included if it was added in time.
        try {
          await this.host.waitForConnection(Infinity);
        } catch (err) {
          this.subscriptions.delete(sub);
          throw err;
        }
        if (sub.model !== null && sub.model === this.host.model) break;
        continue;
      }
      try {
        await this.startSubscription(model, sub);
        break;
      } catch (err) {
        if (!this.host.closed && !this.host.isLive(model)) {
          // The connection went half-way: its successor's setup starts this subscription.
          if (this.host.model === model) await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        this.subscriptions.delete(sub);
        sub.cancelled = true;
        throw err;
      }
    }
    return {
      cancel: async () => {
        if (sub.cancelled) return;
        sub.cancelled = true;
        if (sub.restartTimer) clearTimeout(sub.restartTimer);
        const { channel, consumerTag } = sub;
        if (channel && consumerTag) {
          // Keep the channel open so deliveries already handed out can still be acked
          // (graceful stop replies to them first); it closes with the connection.
          await channel.cancel(consumerTag).catch(() => undefined);
        }
        // Forget the subscription only once nothing can be acked on it any more.
        if (!channel) this.subscriptions.delete(sub);
      },
    };
  }
}
