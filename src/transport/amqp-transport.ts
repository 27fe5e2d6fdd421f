// RabbitMQ through amqplib 2. One connection per transport, opened by amqp-connect.ts
// (amqplib's `recovery`, back-off with jitter, waiting for the broker at startup up to
// STARTUP_TIMEOUT, errors by cause): after every (re)connect, `onConnected`
// re-opens the publish channel and re-declares and re-consumes every live subscription,
// so callers never hold a channel that belongs to a dead connection.
//
// What can go wrong around a reconnect, and what this file does about it:
// - consume() racing a reconnect: every start of a subscription claims it for one
//   connection (`sub.model`); a start that finishes on an older connection sees it is
//   stale and steps back, so a subscription never consumes twice, and a start that fails
//   because the connection went is left to the reconnect instead of failing consume().
// - a channel closed on its own (a queue deleted, a consumer cancelled by the broker, a
//   publish to a missing exchange) is re-opened on the same connection, with back-off.
// - a publish whose confirm is lost with the connection rejects with
//   ENOKI_ERR_DISCONNECTED ("may or may not have been delivered"): the caller decides
//   whether to send again (the RPC client does, within the call's timeout). A publish
//   that never left (its channel was already closed) is sent again on the next channel.
// - acks on a channel that died are no-ops: the broker has requeued those deliveries.
//
// The heartbeat is amqplib's, on this (main) thread's event loop: nothing in enoki that
// may compute for long runs here (see @cpuBound), which is the point of the project.

import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { EnokiError } from '../errors.js';
import type { TlsConfig } from '../config.js';
import { errorText, scrubSecrets } from '../uri-secrets.js';
import { connectToBroker } from './amqp-connect.js';
import { AmqpConsumers, MAX_RESTART_DELAY_MS, RESTART_DELAY_MS } from './amqp-consumers.js';
import { ConnectionWaiters } from './connection-waiters.js';
import { confirmFailure } from './publish-failure.js';
import { wrapDelivery } from './amqp-delivery.js';
import { amqpSocketOptions } from './amqp-socket-options.js';
import { brokerTarget } from './connect-failure.js';
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
  /**
   * How long open() waits for the broker, in ms, retrying failures that waiting can fix
   * (STARTUP_TIMEOUT); Infinity waits forever; default 60 s. After the first connection it
   * retries forever.
   */
  startupTimeoutMs?: number;
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
  private readonly consumers: AmqpConsumers;
  private readonly declaredExchanges = new Set<string>();
  private readonly listeners: Record<TransportEvent, Array<(detail?: Error) => void>> = { connected: [], disconnected: [] };
  private readonly waiters: ConnectionWaiters;
  // Mandatory publishes awaiting their confirm, by correlation id: a basic.return for one
  // arrives before its basic.ack, so the confirm callback can tell "routed" from "returned".
  private readonly pendingReturns = new Map<string, PendingReturn>();
  /** Connections whose 'close' has not fired. */
  private readonly liveModels = new WeakSet<ChannelModel>();
  /** Channels whose 'close' has not fired: acks on any other are no-ops. */
  private readonly openChannels = new WeakSet<Channel>();
  /** Why a publish channel was closed by the broker (a channel-level error, not a lost connection). */
  private readonly channelErrors = new WeakMap<Channel, Error>();
  private closed = false;

  constructor(options: AmqpTransportOptions) {
    this.options = options;
    this.displayUri = options.displayUri;
    this.waiters = new ConnectionWaiters(options.displayUri, () => ({ ready: this.publisher !== null, closed: this.closed }));
    const transport = this;
    this.consumers = new AmqpConsumers({
      logger: options.logger,
      get closed() {
        return transport.closed;
      },
      isLive: (model) => this.liveModels.has(model),
      openChannels: this.openChannels,
      wrap: (channel, msg) => this.wrap(channel, msg),
      scrub: (text) => this.scrub(text),
    });
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
    // As kombu does for nameko: AMQP_SSL means TLS even on an amqp:// URI. Without this,
    // the TLS settings would be ignored and the connection made in plain text.
    if (tls && url.protocol === 'amqp:') url.protocol = 'amqps:';
    this.connection = await connectToBroker({
      url: url.toString(),
      target: brokerTarget(url.toString(), this.displayUri),
      socketOptions: amqpSocketOptions(connectionName, tls, heartbeat),
      logger,
      startupTimeoutMs: this.options.startupTimeoutMs ?? 60_000,
      setup: (model) => this.onConnected(model),
      scrub: (text) => this.scrub(text),
      closed: () => this.closed,
      attach: (connection) => {
        // Assigned here too, so a close() during the startup wait stops the retries.
        this.connection = connection;
        connection.on('disconnect', (err: Error) => this.onDisconnected(err));
        connection.on('connect', () => {
          if (this.closed) return;
          logger.info({ uri: this.displayUri }, 'AMQP connected');
          this.emit('connected');
        });
        connection.on('error', (err: Error) => logger.warn({ uri: this.displayUri, err: this.scrub(err.message) }, 'AMQP connection error'));
        connection.on('blocked', (reason: string) => logger.warn({ uri: this.displayUri, reason }, 'RabbitMQ blocked this connection'));
        connection.on('unblocked', () => logger.info({ uri: this.displayUri }, 'RabbitMQ unblocked this connection'));
      },
    }).catch((err: unknown) => {
      this.connection = null;
      throw err;
    });
  }

  /**
   * amqplib's recovery `setup`, after every successful connection. If it throws, amqplib
   * closes that connection and tries again with back-off, so it throws only when the
   * connection itself went; one queue that cannot be consumed is retried on its own.
   */
  private async onConnected(model: ChannelModel): Promise<void> {
    if (this.closed) return; // amqplib closes it
    this.liveModels.add(model);
    model.on('close', () => this.liveModels.delete(model));
    model.on('error', () => {
      /* reported through the recovering connection */
    });
    let publisher = await this.openPublisher(model);
    this.declaredExchanges.clear();
    for (const sub of this.consumers.all) {
      if (sub.cancelled) continue;
      try {
        await this.consumers.start(model, sub);
      } catch (err) {
        if (!this.liveModels.has(model)) throw err;
        this.consumers.failed(model, sub, err);
      }
    }
    // A close can land between two steps above without failing any of them (the
    // connection.close frame after the last reply in one read): a dead connection must
    // not be handed to amqplib as set up, or it would never reconnect.
    if (!this.liveModels.has(model)) throw new Error('the connection closed while it was being set up');
    if (!this.openChannels.has(publisher)) publisher = await this.openPublisher(model);
    this.model = model;
    this.publisher = publisher;
    this.waiters.wake();
  }

  private onDisconnected(err: Error): void {
    this.model = null;
    this.publisher = null;
    for (const sub of this.consumers.all) {
      sub.channel = null;
      sub.consumerTag = null;
      // A cancelled subscription was kept only so deliveries on its channel could be acked.
      if (sub.cancelled) this.consumers.all.delete(sub);
    }
    if (this.closed) return;
    this.options.logger.warn({ uri: this.displayUri, err: this.scrub(err.message) }, 'AMQP connection lost; reconnecting');
    this.emit('disconnected', err);
  }

  private async openPublisher(model: ChannelModel): Promise<ConfirmChannel> {
    const publisher = await model.createConfirmChannel();
    this.openChannels.add(publisher);
    publisher.on('error', (err: Error) => {
      this.channelErrors.set(publisher, err);
      this.options.logger.warn({ err: this.scrub(err.message) }, 'AMQP publish channel error');
    });
    publisher.on('return', (msg: { properties: { correlationId?: string } }) => {
      const pending = msg.properties.correlationId ? this.pendingReturns.get(msg.properties.correlationId) : undefined;
      if (pending) pending.returned = true;
    });
    publisher.on('close', () => {
      this.openChannels.delete(publisher);
      if (this.publisher !== publisher) return;
      this.publisher = null;
      // The broker closes just this channel on a channel-level error; on a lost
      // connection the connection's own close follows at once and recovery takes over.
      setImmediate(() => this.reopenPublisher(model, 0));
    });
    return publisher;
  }

  private reopenPublisher(model: ChannelModel, attempt: number): void {
    if (this.closed || this.model !== model || !this.liveModels.has(model) || this.publisher) return;
    this.openPublisher(model).then(
      (publisher) => {
        if (this.closed || this.model !== model || this.publisher) {
          publisher.close().catch(() => undefined);
          return;
        }
        this.publisher = publisher;
        this.declaredExchanges.clear();
        this.waiters.wake();
      },
      (err: Error) => {
        if (!this.liveModels.has(model)) return;
        this.options.logger.warn({ err: this.scrub(err.message) }, 'cannot re-open the AMQP publish channel; retrying');
        setTimeout(() => this.reopenPublisher(model, attempt + 1), Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** attempt)).unref();
      },
    );
  }

  private wrap(channel: Channel, msg: ConsumeMessage): InboundMessage {
    return wrapDelivery(channel, msg, () => !this.closed && this.openChannels.has(channel));
  }

  async consume(spec: ConsumeSpec, onMessage: (message: InboundMessage) => void): Promise<Subscription> {
    this.assertOpen();
    const sub = this.consumers.add(spec, onMessage);
    for (;;) {
      const model = this.model;
      if (!model) {
        // Disconnected, or a connection being set up: its setup starts every
        // subscription it finds, this one included if it was added in time.
        try {
          await this.waiters.wait(Infinity);
        } catch (err) {
          this.consumers.all.delete(sub);
          throw err;
        }
        if (sub.model !== null && sub.model === this.model) break;
        continue;
      }
      try {
        await this.consumers.start(model, sub);
        break;
      } catch (err) {
        if (!this.closed && !this.liveModels.has(model)) {
          // The connection went half-way: its successor's setup starts this subscription.
          if (this.model === model) await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        this.consumers.all.delete(sub);
        sub.cancelled = true;
        throw err;
      }
    }
    return this.consumers.handle(sub);
  }

  async assertExchange(name: string): Promise<void> {
    for (;;) {
      this.assertOpen();
      if (this.declaredExchanges.has(name)) return;
      const publisher = this.publisher;
      if (!publisher) {
        await this.waiters.wait(Infinity);
        continue;
      }
      await publisher.assertExchange(name, 'topic', { durable: true, autoDelete: false });
      this.declaredExchanges.add(name);
      return;
    }
  }

  async publish(exchange: string, routingKey: string, body: Buffer, options: PublishOptions, waitMs?: number): Promise<void> {
    this.assertOpen();
    const deadline = waitMs === undefined || !Number.isFinite(waitMs) ? Infinity : Date.now() + Math.max(0, waitMs);
    const { mandatory, ...props } = options;
    // Mandatory publishes need a key to match a basic.return to its confirm.
    const returnKey = mandatory ? (props.correlationId ?? randomUUID()) : undefined;
    const target = `${exchange}/${routingKey}`;
    for (;;) {
      this.assertOpen();
      const publisher = this.publisher;
      if (!publisher) {
        await this.waiters.wait(deadline);
        continue;
      }
      const pending: PendingReturn = { returned: false };
      if (returnKey) this.pendingReturns.set(returnKey, pending);
      try {
        const sent = await new Promise<boolean>((resolve, reject) => {
          try {
            // false means amqplib's buffer is full: the message is still queued and will be
            // confirmed; callers see back-pressure through the confirm latency.
            publisher.publish(
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
                if (!err) {
                  if (pending.returned) reject(new UnroutableError(exchange, routingKey));
                  else resolve(true);
                  return;
                }
                reject(confirmFailure({ channelError: this.channelErrors.get(publisher), closed: this.closed, displayUri: this.displayUri, target, scrub: (t) => this.scrub(t) }, err));
              },
            );
          } catch (err) {
            // The channel was closed before this message left: nothing was sent, so it
            // goes again on the next channel. Anything else (a header table too large) is final.
            if ((err as Error)?.name === 'IllegalOperationError') resolve(false);
            else reject(new EnokiError('ENOKI_ERR_PUBLISH', [target, this.scrub(errorText(err))], { cause: err }));
          }
        });
        if (sent) return;
      } finally {
        if (returnKey) this.pendingReturns.delete(returnKey);
      }
      if (Date.now() >= deadline) {
        throw new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, `could not publish to ${target} within ${waitMs} ms`]);
      }
      // Its 'close' event normally comes with the failure; give it a moment if not.
      if (this.publisher === publisher) await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, 'the transport is closed']);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.wake();
    for (const sub of this.consumers.all) if (sub.restartTimer) clearTimeout(sub.restartTimer);
    this.consumers.all.clear();
    this.publisher = null;
    this.model = null;
    const connection = this.connection;
    this.connection = null;
    if (connection) await connection.close().catch(() => undefined);
    this.emit('disconnected');
  }

  /** `text` with the URI and its password masked. */
  private scrub(text: string): string {
    return scrubSecrets(text, this.options.uri);
  }
}

