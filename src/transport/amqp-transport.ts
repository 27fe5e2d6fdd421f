// RabbitMQ through amqplib 2. One connection per transport, opened with amqplib's own
// `recovery` option (backoff with jitter): after every (re)connect, `onConnected`
// re-opens the publish channel and re-declares and re-consumes every live subscription,
// so callers never hold a channel that belongs to a dead connection.
//
// The heartbeat is amqplib's, on this (main) thread's event loop: nothing in enoki that
// may compute for long runs here (see @cpuBound), which is the point of the project.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { EnokiError } from '../errors.js';
import type { TlsConfig } from '../config.js';
import {
  UnroutableError,
  type ConsumeSpec,
  type InboundMessage,
  type PublishOptions,
  type Subscription,
  type Transport,
  type TransportEvent,
} from './transport.js';

export interface AmqpTransportOptions {
  uri: string;
  displayUri: string;
  /** Heartbeat in seconds; 0 disables it. */
  heartbeat: number;
  tls?: TlsConfig | null;
  /** Shown in the RabbitMQ management UI, e.g. 'enoki greeting_service'. */
  connectionName: string;
  logger: Logger;
  /** Retries before the first connection succeeds; after that it retries forever. */
  initialRetries?: number;
}

interface LiveSubscription {
  spec: ConsumeSpec;
  onMessage: (message: InboundMessage) => void;
  channel: Channel | null;
  consumerTag: string | null;
  cancelled: boolean;
}

interface PendingReturn {
  returned: boolean;
}

export class AmqpTransport implements Transport {
  readonly displayUri: string;
  private readonly options: AmqpTransportOptions;
  private connection: RecoveringChannelModel | null = null;
  private model: ChannelModel | null = null;
  private publisher: ConfirmChannel | null = null;
  private readonly subscriptions = new Set<LiveSubscription>();
  private readonly declaredExchanges = new Set<string>();
  private readonly listeners: Record<TransportEvent, Array<(detail?: Error) => void>> = { connected: [], disconnected: [] };
  private readonly connectWaiters = new Set<() => void>();
  // Mandatory publishes awaiting their confirm, by correlation id: a basic.return for one
  // arrives before its basic.ack, so the confirm callback can tell "routed" from "returned".
  private readonly pendingReturns = new Map<string, PendingReturn>();
  private closed = false;

  constructor(options: AmqpTransportOptions) {
    this.options = options;
    this.displayUri = options.displayUri;
  }

  get connected(): boolean {
    return this.publisher !== null && !this.closed;
  }

  on(event: TransportEvent, listener: (detail?: Error) => void): void {
    this.listeners[event].push(listener);
  }

  private emit(event: TransportEvent, detail?: Error): void {
    for (const listener of this.listeners[event]) listener(detail);
  }

  async open(): Promise<void> {
    const { uri, heartbeat, tls, connectionName, logger } = this.options;
    const url = new URL(uri);
    url.searchParams.set('heartbeat', String(heartbeat));
    const socketOptions: Record<string, unknown> = {
      // Nagle + delayed ACK costs ~40 ms per sequential request/reply; always off.
      noDelay: true,
      clientProperties: { connection_name: connectionName, product: 'enoki' },
    };
    if (tls) {
      if (tls.ca) socketOptions.ca = [readFileSync(tls.ca)];
      if (tls.cert) socketOptions.cert = readFileSync(tls.cert);
      if (tls.key) socketOptions.key = readFileSync(tls.key);
      if (tls.passphrase) socketOptions.passphrase = tls.passphrase;
      socketOptions.rejectUnauthorized = tls.rejectUnauthorized;
    }
    let lastError: Error | undefined;
    try {
      const connection = await amqp.connect(url.toString(), {
        ...socketOptions,
        recovery: {
          initialDelay: 200,
          maxDelay: 5000,
          jitter: 0.3,
          maxRetries: Infinity,
          initialMaxRetries: this.options.initialRetries ?? 2,
          setup: (model: ChannelModel) => this.onConnected(model),
        },
      });
      this.connection = connection;
      connection.on('disconnect', (err: Error) => this.onDisconnected(err));
      connection.on('connect-failed', (err: Error) => {
        lastError = err;
        logger.warn({ uri: this.displayUri, err: err.message }, 'AMQP connection attempt failed');
      });
      connection.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) =>
        logger.info({ uri: this.displayUri, attempt, delay }, 'AMQP reconnect scheduled'),
      );
      connection.on('connect', () => {
        if (this.closed) return;
        logger.info({ uri: this.displayUri }, 'AMQP connected');
        this.emit('connected');
      });
      connection.on('error', (err: Error) => logger.warn({ uri: this.displayUri, err: err.message }, 'AMQP connection error'));
      connection.on('blocked', (reason: string) => logger.warn({ uri: this.displayUri, reason }, 'RabbitMQ blocked this connection'));
      this.emit('connected');
    } catch (err) {
      // Error messages from the socket layer can carry the URI; never let the password out.
      const reason = scrub((lastError ?? (err as Error)).message, uri, this.displayUri);
      throw new EnokiError('ENOKI_ERR_CONNECT', [this.displayUri, reason]);
    }
  }

  /** Runs inside amqplib's recovery after every successful connection. */
  private async onConnected(model: ChannelModel): Promise<void> {
    model.on('error', () => {
      /* reported through the recovering connection */
    });
    const publisher = await model.createConfirmChannel();
    publisher.on('error', (err: Error) => this.options.logger.warn({ err: err.message }, 'AMQP publish channel error'));
    publisher.on('return', (msg: { properties: { correlationId?: string } }) => {
      const pending = msg.properties.correlationId ? this.pendingReturns.get(msg.properties.correlationId) : undefined;
      if (pending) pending.returned = true;
    });
    this.declaredExchanges.clear();
    for (const sub of this.subscriptions) {
      if (!sub.cancelled) await this.startSubscription(model, sub);
    }
    this.model = model;
    this.publisher = publisher;
    for (const resolve of this.connectWaiters) resolve();
    this.connectWaiters.clear();
  }

  private onDisconnected(err: Error): void {
    this.model = null;
    this.publisher = null;
    for (const sub of this.subscriptions) {
      sub.channel = null;
      sub.consumerTag = null;
    }
    if (this.closed) return;
    this.options.logger.warn({ uri: this.displayUri, err: err.message }, 'AMQP connection lost; reconnecting');
    this.emit('disconnected', err);
  }

  private async startSubscription(model: ChannelModel, sub: LiveSubscription): Promise<void> {
    const { spec } = sub;
    const channel = await model.createChannel();
    channel.on('error', (err: Error) => this.options.logger.warn({ queue: spec.queue.name, err: err.message }, 'AMQP consumer channel error'));
    channel.on('close', () => {
      // A channel can close alone (e.g. a queue deleted under us). Unless the whole
      // connection went, or the subscription ended, consume again on a fresh channel.
      if (sub.channel !== channel || sub.cancelled || this.closed) return;
      sub.channel = null;
      sub.consumerTag = null;
      const current = this.model;
      if (current === model) {
        setTimeout(() => {
          if (this.model === model && !sub.cancelled && !this.closed && sub.channel === null) {
            this.startSubscription(model, sub).catch((e: Error) =>
              this.options.logger.error({ queue: spec.queue.name, err: e.message }, 'cannot resume consuming'),
            );
          }
        }, 500).unref();
      }
    });
    if (spec.prefetch > 0) await channel.prefetch(spec.prefetch);
    await channel.assertExchange(spec.exchange, 'topic', { durable: true, autoDelete: false });
    await channel.assertQueue(spec.queue.name, {
      durable: spec.queue.durable,
      autoDelete: spec.queue.autoDelete,
      exclusive: spec.queue.exclusive,
      arguments: spec.queue.arguments,
    });
    for (const key of spec.bindings) await channel.bindQueue(spec.queue.name, spec.exchange, key);
    sub.channel = channel;
    const { consumerTag } = await channel.consume(spec.queue.name, (msg) => {
      if (msg === null) return; // cancelled by the broker (queue deleted); 'close' logic handles it
      sub.onMessage(this.wrap(channel, msg));
    });
    sub.consumerTag = consumerTag;
  }

  private wrap(channel: Channel, msg: ConsumeMessage): InboundMessage {
    let settled = false;
    const live = (): boolean => !settled && !this.closed && this.subscriptionsHaveChannel(channel);
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
      ack: () => {
        // An ack on a channel of a dead connection would throw; the broker has already
        // requeued that delivery, so there is nothing left to acknowledge.
        if (!live()) return;
        settled = true;
        channel.ack(msg);
      },
      nack: (requeue: boolean) => {
        if (!live()) return;
        settled = true;
        channel.nack(msg, false, requeue);
      },
    };
  }

  private subscriptionsHaveChannel(channel: Channel): boolean {
    for (const sub of this.subscriptions) if (sub.channel === channel) return true;
    return false;
  }

  async consume(spec: ConsumeSpec, onMessage: (message: InboundMessage) => void): Promise<Subscription> {
    this.assertOpen();
    const sub: LiveSubscription = { spec, onMessage, channel: null, consumerTag: null, cancelled: false };
    this.subscriptions.add(sub);
    const model = this.model ?? (await this.waitForConnection(undefined).then(() => this.model));
    if (model && sub.channel === null) {
      try {
        await this.startSubscription(model, sub);
      } catch (err) {
        this.subscriptions.delete(sub);
        throw err;
      }
    }
    return {
      cancel: async () => {
        if (sub.cancelled) return;
        sub.cancelled = true;
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

  async assertExchange(name: string): Promise<void> {
    this.assertOpen();
    await this.waitForConnection(undefined);
    if (this.declaredExchanges.has(name)) return;
    const publisher = this.publisher;
    if (!publisher) return this.assertExchange(name);
    await publisher.assertExchange(name, 'topic', { durable: true, autoDelete: false });
    this.declaredExchanges.add(name);
  }

  async publish(exchange: string, routingKey: string, body: Buffer, options: PublishOptions, waitMs?: number): Promise<void> {
    this.assertOpen();
    if (!this.publisher) await this.waitForConnection(waitMs);
    const publisher = this.publisher;
    if (!publisher) return this.publish(exchange, routingKey, body, options, waitMs);
    const { mandatory, ...props } = options;
    // Mandatory publishes need a key to match a basic.return to its confirm.
    const returnKey = mandatory ? (props.correlationId ?? randomUUID()) : undefined;
    const pending: PendingReturn = { returned: false };
    if (returnKey) this.pendingReturns.set(returnKey, pending);
    try {
      await new Promise<void>((resolve, reject) => {
        const ok = publisher.publish(
          exchange,
          routingKey,
          body,
          {
            mandatory: Boolean(mandatory),
            contentType: props.contentType,
            contentEncoding: props.contentEncoding,
            correlationId: returnKey ?? props.correlationId,
            replyTo: props.replyTo,
            deliveryMode: props.deliveryMode,
            priority: props.priority,
            messageId: props.messageId,
            headers: props.headers,
          },
          (err: unknown) => {
            if (err) reject(new EnokiError('ENOKI_ERR_PUBLISH', [`${exchange}/${routingKey}`, errorText(err)], { cause: err }));
            else if (pending.returned) reject(new UnroutableError(exchange, routingKey));
            else resolve();
          },
        );
        // false means amqplib's buffer is full: the message is still queued and will be
        // confirmed; callers see back-pressure through the confirm latency.
        void ok;
      });
    } finally {
      if (returnKey) this.pendingReturns.delete(returnKey);
    }
  }

  private waitForConnection(waitMs: number | undefined): Promise<void> {
    if (this.publisher) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.connectWaiters.delete(done);
        if (this.closed) reject(new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, 'the transport was closed']));
        else resolve();
      };
      this.connectWaiters.add(done);
      if (waitMs !== undefined && Number.isFinite(waitMs)) {
        timer = setTimeout(() => {
          this.connectWaiters.delete(done);
          reject(new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, `still not reconnected after ${waitMs} ms`]));
        }, waitMs);
      }
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, 'the transport is closed']);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const resolve of [...this.connectWaiters]) resolve();
    this.subscriptions.clear();
    this.publisher = null;
    this.model = null;
    const connection = this.connection;
    this.connection = null;
    if (connection) await connection.close().catch(() => undefined);
    this.emit('disconnected');
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function scrub(text: string, uri: string, displayUri: string): string {
  try {
    const password = new URL(uri).password;
    let out = text.split(uri).join(displayUri);
    if (password) out = out.split(decodeURIComponent(password)).join('***').split(password).join('***');
    return out;
  } catch {
    return text;
  }
}
