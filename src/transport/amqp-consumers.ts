// The consumers of one AMQP transport: each subscription declares its exchange, queue and
// bindings and consumes on a channel of its own. A subscription claims the connection it
// starts on (`sub.model`), so a start that finishes on an older connection steps back; a
// channel that closes alone (a queue deleted, a consumer cancelled by the broker) is
// consumed again on a fresh one, with back-off.

import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { errorText } from '../uri-secrets.js';
import type { ConsumeSpec, InboundMessage, Subscription } from './transport.js';

/** A consumer the transport keeps alive across reconnects. */
export interface LiveSubscription {
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

/** First delay between restarts of a failing channel, ms; it doubles per failure. */
export const RESTART_DELAY_MS = 500;
/** The cap of that back-off. */
export const MAX_RESTART_DELAY_MS = 30_000;

/** What the consumers need of their transport. */
export interface ConsumerHost {
  readonly logger: Logger;
  /** The transport was closed by its owner. */
  readonly closed: boolean;
  /** Whether `model`'s 'close' has not fired. */
  isLive(model: ChannelModel): boolean;
  /** Channels whose 'close' has not fired: acks on any other are no-ops. */
  readonly openChannels: WeakSet<Channel>;
  wrap(channel: Channel, msg: ConsumeMessage): InboundMessage;
  scrub(text: string): string;
}

/** Every live subscription of one transport, and how each (re)starts. */
export class AmqpConsumers {
  /** Subscriptions to (re)start on every connection; cancelled ones stay until their channel goes. */
  readonly all = new Set<LiveSubscription>();

  constructor(private readonly host: ConsumerHost) {}

  /** A new subscription, kept from now on. */
  add(spec: ConsumeSpec, onMessage: (message: InboundMessage) => void): LiveSubscription {
    const sub: LiveSubscription = { spec, onMessage, channel: null, consumerTag: null, model: null, cancelled: false, failures: 0, restartTimer: null };
    this.all.add(sub);
    return sub;
  }

  /**
   * Declare and consume for `sub` on `model`. Claims the subscription for that
   * connection first: if a newer start claims it meanwhile, this one closes its channel
   * and returns. Rejects when a step fails (on a live connection, a real refusal).
   */
  async start(model: ChannelModel, sub: LiveSubscription): Promise<void> {
    const { spec } = sub;
    sub.model = model;
    sub.channel = null;
    sub.consumerTag = null;
    const stale = (): boolean => sub.model !== model || sub.cancelled || this.host.closed;
    const channel = await model.createChannel();
    this.host.openChannels.add(channel);
    channel.on('error', (err: Error) => this.host.logger.warn({ queue: spec.queue.name, err: this.host.scrub(err.message) }, 'AMQP consumer channel error'));
    channel.on('close', () => {
      this.host.openChannels.delete(channel);
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
    const { consumerTag } = await channel.consume(spec.queue.name, (msg) => {
      if (msg === null) {
        // The broker cancelled this consumer (its queue was deleted). Closing the channel
        // makes the 'close' handler start again, which declares the queue anew.
        this.host.logger.warn({ queue: spec.queue.name }, 'the broker cancelled a consumer (queue deleted?); consuming again');
        channel.close().catch(() => undefined);
        return;
      }
      sub.onMessage(this.host.wrap(channel, msg));
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

  failed(model: ChannelModel, sub: LiveSubscription, err: unknown): void {
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
      this.start(model, sub).catch((err: unknown) => {
        if (this.host.isLive(model) && sub.model === model) this.failed(model, sub, err);
      });
    }, delay);
    sub.restartTimer.unref();
  }

  /** The caller's handle on `sub`: cancel() stops its deliveries. */
  handle(sub: LiveSubscription): Subscription {
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
        if (!channel) this.all.delete(sub);
      },
    };
  }
}
