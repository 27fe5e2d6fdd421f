// RabbitMQ through amqplib 2. One connection per transport, opened by amqp-connect.ts
// (amqplib's `recovery`, back-off with jitter, waiting for the broker at startup up to
// STARTUP_TIMEOUT, errors by cause): after every (re)connect, `onConnected`
// re-opens the publish channel and re-declares and re-consumes every live subscription,
// so callers never hold a channel that belongs to a dead connection.
//
// What can go wrong around a reconnect, and what this file does about it:
// - consume() racing a reconnect, a consumer channel closed on its own: see
//   amqp-subscriptions.ts.
// - the publish channel closed on its own (a publish to a missing exchange) is re-opened
//   on the same connection, with back-off.
// - a publish whose confirm is lost with the connection rejects with
//   ENOKI_ERR_DISCONNECTED ("may or may not have been delivered"): the caller decides
//   whether to send again (the RPC client does, within the call's timeout). A publish
//   that never left (its channel was already closed) is sent again on the next channel.
// - acks on a channel that died are no-ops: the broker has requeued those deliveries.
//
// The heartbeat is amqplib's, on this (main) thread's event loop: nothing in enoki that
// may compute for long runs here (see @cpuBound), which is the point of the project.
//
// Socket options, ConfirmLost and password scrubbing: amqp-connection-options.ts; declaring
// and consuming queues, and doing it again after a reconnect: amqp-subscriptions.ts.

import type { Channel, ChannelModel, ConfirmChannel, RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { EnokiError } from '../errors.js';
import type { TlsConfig } from '../config.js';
import type { AmqpUriOrder } from '../config-amqp-uri.js';
import { maskUri, uriList } from '../uri-secrets.js';
import { amqpSocketOptions, errorText, scrub } from './amqp-connection-options.js';
import { connectToBroker } from './amqp-connect.js';
import { AmqpSubscriptions, MAX_RESTART_DELAY_MS, RESTART_DELAY_MS } from './amqp-subscriptions.js';
import { brokerTarget } from './connect-failure.js';
import { ReturnTracker, type ReturnedMessage } from './publish-returns.js';
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
  /** One broker URI, or the nodes of one cluster, tried as `order` says (AMQP_URI_ORDER). */
  uri: string | readonly string[];
  /** The masked form of `uri` (of the first URI, for a list). */
  displayUri: string;
  /** The order a list of URIs is tried in; default 'ordered'. */
  order?: AmqpUriOrder;
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

export { amqpSocketOptions, connectTimeoutMs, isConfirmLost, type ConfirmLost } from './amqp-connection-options.js';

export class AmqpTransport implements Transport {
  /** The broker connected to, or tried last (masked): with a list, the node in use. */
  displayUri: string;
  /** Transport.brokerVersion: from the server properties of the last connection. */
  brokerVersion: string | undefined = undefined;
  private readonly options: AmqpTransportOptions;
  private readonly uris: readonly string[];
  private connection: RecoveringChannelModel | null = null;
  private model: ChannelModel | null = null;
  private publisher: ConfirmChannel | null = null;
  private readonly subscriptions: AmqpSubscriptions;
  private readonly declaredExchanges = new Set<string>();
  private readonly listeners: Record<TransportEvent, Array<(detail?: Error) => void>> = { connected: [], disconnected: [] };
  private readonly connectWaiters = new Set<() => void>();
  // Mandatory publishes awaiting their confirm: a basic.return for one arrives before its
  // basic.ack, so the confirm callback can tell "routed" from "returned".
  private readonly returns = new ReturnTracker();
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
    this.uris = uriList(options.uri);
    // The subscriptions read the connection's state live, through these getters.
    const transport = this;
    this.subscriptions = new AmqpSubscriptions({
      get closed() {
        return transport.closed;
      },
      get model() {
        return transport.model;
      },
      isLive: (model) => this.liveModels.has(model),
      openChannels: this.openChannels,
      logger: options.logger,
      scrub: (text) => this.scrub(text),
      waitForConnection: (deadline) => this.waitForConnection(deadline),
      assertOpen: () => this.assertOpen(),
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
    const { heartbeat, tls, connectionName, logger } = this.options;
    const brokers = this.uris.map((uri, index) => {
      const url = new URL(uri);
      url.searchParams.set('heartbeat', String(heartbeat));
      // As kombu does for nameko: AMQP_SSL means TLS even on an amqp:// URI. Without this,
      // the TLS settings would be ignored and the connection made in plain text.
      if (tls && url.protocol === 'amqp:') url.protocol = 'amqps:';
      return { url: url.toString(), target: brokerTarget(url.toString(), this.uris.length === 1 || index === 0 ? this.options.displayUri : maskUri(uri)) };
    });
    // Waiting for the broker at startup, and errors by cause: amqp-connect.ts.
    this.connection = await connectToBroker({
      brokers,
      order: this.options.order,
      onTarget: (target) => {
        this.displayUri = target.displayUri;
      },
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
    this.brokerVersion = model.connection.serverProperties?.version ?? this.brokerVersion;
    model.on('close', () => this.liveModels.delete(model));
    model.on('error', () => {
      /* reported through the recovering connection */
    });
    let publisher = await this.openPublisher(model);
    this.declaredExchanges.clear();
    await this.subscriptions.startAll(model);
    // A close can land between two steps above without failing any of them (the
    // connection.close frame after the last reply in one read): a dead connection must
    // not be handed to amqplib as set up, or it would never reconnect.
    if (!this.liveModels.has(model)) throw new Error('the connection closed while it was being set up');
    if (!this.openChannels.has(publisher)) publisher = await this.openPublisher(model);
    this.model = model;
    this.publisher = publisher;
    this.resolveWaiters();
  }

  private onDisconnected(err: Error): void {
    this.model = null;
    this.publisher = null;
    this.subscriptions.disconnected();
    if (this.closed) return;
    this.options.logger.warn({ uri: this.displayUri, err: this.scrub(err.message) }, 'AMQP connection lost; reconnecting');
    this.emit('disconnected', err);
  }

  private resolveWaiters(): void {
    for (const resolve of [...this.connectWaiters]) resolve();
  }

  private async openPublisher(model: ChannelModel): Promise<ConfirmChannel> {
    const publisher = await model.createConfirmChannel();
    this.openChannels.add(publisher);
    publisher.on('error', (err: Error) => {
      this.channelErrors.set(publisher, err);
      this.options.logger.warn({ err: this.scrub(err.message) }, 'AMQP publish channel error');
    });
    publisher.on('return', (msg: ReturnedMessage) => this.returns.onReturn(msg));
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
        this.resolveWaiters();
      },
      (err: Error) => {
        if (!this.liveModels.has(model)) return;
        this.options.logger.warn({ err: this.scrub(err.message) }, 'cannot re-open the AMQP publish channel; retrying');
        setTimeout(() => this.reopenPublisher(model, attempt + 1), Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** attempt)).unref();
      },
    );
  }

  consume(spec: ConsumeSpec, onMessage: (message: InboundMessage) => void): Promise<Subscription> {
    return this.subscriptions.consume(spec, onMessage);
  }

  async assertExchange(name: string): Promise<void> {
    for (;;) {
      this.assertOpen();
      if (this.declaredExchanges.has(name)) return;
      const publisher = this.publisher;
      if (!publisher) {
        await this.waitForConnection(Infinity);
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
    const { mandatory, confirm = true, ...props } = options;
    const target = `${exchange}/${routingKey}`;
    for (;;) {
      this.assertOpen();
      const publisher = this.publisher;
      if (!publisher) {
        await this.waitForConnection(deadline);
        continue;
      }
      const tracked = mandatory && confirm ? this.returns.track(exchange, routingKey, body, props.correlationId) : undefined;
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
                correlationId: props.correlationId,
                replyTo: props.replyTo,
                deliveryMode: props.deliveryMode,
                priority: props.priority,
                messageId: props.messageId,
                headers: props.headers,
              },
              (err: unknown) => {
                if (!err) {
                  if (tracked?.pending.returned) reject(new UnroutableError(exchange, routingKey));
                  else resolve(true);
                  return;
                }
                reject(this.confirmFailure(publisher, target, err));
              },
            );
            // PUBLISH_CONFIRMS false: written to the channel is all the caller waits for.
            if (!confirm) resolve(true);
          } catch (err) {
            // The channel was closed before this message left: nothing was sent, so it
            // goes again on the next channel. Anything else (a header table too large) is final.
            if ((err as Error)?.name === 'IllegalOperationError') resolve(false);
            else reject(new EnokiError('ENOKI_ERR_PUBLISH', [target, this.scrub(errorText(err))], { cause: err }));
          }
        });
        if (sent) return;
      } finally {
        tracked?.release();
      }
      if (Date.now() >= deadline) {
        throw new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, `could not publish to ${target} within ${waitMs} ms`]);
      }
      // Its 'close' event normally comes with the failure; give it a moment if not.
      if (this.publisher === publisher) await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Why a publish was not confirmed: a broker nack or channel error (final), or a lost connection (maybe delivered). */
  private confirmFailure(publisher: ConfirmChannel, target: string, err: unknown): Error {
    const channelError = this.channelErrors.get(publisher);
    if (channelError) return new EnokiError('ENOKI_ERR_PUBLISH', [target, this.scrub(channelError.message)], { cause: channelError });
    if (this.closed) return new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, `the transport was closed before the broker confirmed the publish to ${target}`], { cause: err });
    if (errorText(err) === 'channel closed') {
      const lost = new EnokiError(
        'ENOKI_ERR_DISCONNECTED',
        [this.displayUri, `the connection dropped before the broker confirmed the publish to ${target}; it may or may not have been delivered`],
        { cause: err },
      );
      return Object.assign(lost, { confirmLost: true } as const);
    }
    return new EnokiError('ENOKI_ERR_PUBLISH', [target, this.scrub(errorText(err))], { cause: err });
  }

  /** Resolves once a publish channel is up; rejects at `deadline` (epoch ms) or when closed. */
  private waitForConnection(deadline: number): Promise<void> {
    if (this.publisher) return Promise.resolve();
    if (this.closed) return Promise.reject(new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, 'the transport was closed']));
    const started = Date.now();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.connectWaiters.delete(done);
        if (this.closed) reject(new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, 'the transport was closed']));
        else resolve();
      };
      this.connectWaiters.add(done);
      if (Number.isFinite(deadline)) {
        timer = setTimeout(
          () => {
            this.connectWaiters.delete(done);
            reject(new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, `still not reconnected after ${Date.now() - started} ms`]));
          },
          Math.max(0, deadline - Date.now()),
        );
      }
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, 'the transport is closed']);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Acks still held for the end of this turn go out now, and every consumer channel is
    // closed before the connection: amqplib's connection.close can reach the socket ahead
    // of frames other channels queued earlier (its writer favours the emptier stream), and
    // the broker would then requeue requests whose acks it never saw — they would be
    // answered twice. A channel's own close is ordered after its acks.
    this.subscriptions.flushAcks();
    await this.subscriptions.closeChannels(CHANNEL_CLOSE_MS);
    if (this.closed) return;
    this.closed = true;
    this.resolveWaiters();
    this.subscriptions.closed();
    this.publisher = null;
    this.model = null;
    const connection = this.connection;
    this.connection = null;
    if (connection) await connection.close().catch(() => undefined);
    this.emit('disconnected');
  }

  /** `text` with the URI and its password masked. */
  private scrub(text: string): string {
    return this.uris.reduce((out, uri) => scrub(out, uri, this.uris.length === 1 ? this.options.displayUri : maskUri(uri)), text);
  }
}

/** How long a close waits for the broker to confirm each consumer channel's close (a broker gone silent must not hold it). */
const CHANNEL_CLOSE_MS = 2_000;
