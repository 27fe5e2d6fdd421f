// One RPC request, from its delivery to its settlement, for RpcConsumer (rpc-consumer.ts).
//
// A call is one object, not a nest of closures: the consumer makes an RpcCall per
// delivery, and the call is also the SpawnOptions it hands to the worker path, whose
// handleResult is a method here. At thousands of calls a second the closures and async
// frames per call were a measurable part of the service's CPU (bench/rpc.ts reports CPU
// per call); the behaviour is the one described at the top of rpc-consumer.ts.

import { CallAbandoned, EnokiError, isEnokiError, MalformedRequest, MethodNotFound } from '../errors.js';
import type { ExtensionHost, SpawnOptions } from '../extension-host.js';
import type { MethodDefinition } from '../service-definition.js';
import { bindArguments } from '../signature.js';
import type { InboundMessage, MessageProperties, PublishOptions, Transport } from '../transport/transport.js';
import { contextFromHeaders, type ContextData } from '../context-headers.js';
import { emitObserved } from '../observed-events.js';
import type { WorkerContext } from '../worker-context.js';
import { decodeRequest, encodeReply, serializeError } from './wire.js';
import { serializerForContentType, type Serializer } from '../serializer.js';
import type { PublishSettings } from './publish-settings.js';

/** nameko's answer for a result its serializer cannot encode. */
class UnserializableValueError extends Error {
  static excPath = 'nameko.exceptions.UnserializableValueError';
  override get name(): string {
    return 'UnserializableValueError';
  }
}

/** The broker would not carry the reply (too large, refused): the caller is told so. */
class ReplyNotDelivered extends Error {
  static excPath = 'enoki.ReplyNotDelivered';
  override get name(): string {
    return 'ReplyNotDelivered';
  }
}

/** For promises whose failure is handled where they are awaited. */
function ignore(): void {}

/** A call running here: the delivery to acknowledge when it ends (a redelivery that joined it replaces the first). */
export interface RunningCall {
  delivery: InboundMessage;
  method: string;
  startedAt: number;
}

/** What a call reads from its consumer. */
export interface RpcCallHost {
  readonly container: ExtensionHost;
  readonly transport: Transport;
  readonly settings: PublishSettings;
  /** The @rpc methods by wire name. */
  readonly methods: ReadonlyMap<string, MethodDefinition>;
  /** Calls running in this consumer, by correlation id and reply_to. */
  readonly running: Map<string, RunningCall>;
  /** performance.now() when the delivery had to wait for a worker, if it did. */
  queuedSince(message: InboundMessage): number | undefined;
  /** The call's method returned (or it never ran): its worker slot is free. Called again at the end; the host releases once. */
  release(call: RpcCall): void;
  /** The call is settled (acked, nacked, or left to the broker): called once, last. */
  settled(call: RpcCall): void;
}

export class RpcCall implements SpawnOptions {
  readonly entrypoint = 'rpc';
  contextData?: ContextData;
  parentCallIdStack?: readonly string[];
  traceHeaders?: Readonly<Record<string, unknown>>;
  waitedMs?: number;
  /** Whether the host released this call's slot (its release() is idempotent through this). */
  released = false;
  /** The reply's publish and the request's ack, once the method returned. */
  private answered: Promise<void> | undefined;
  /** `<correlation id>\0<reply_to>`: the key of `host.running`. */
  private key = '';
  private serializer!: Serializer;
  private replyProperties!: PublishOptions;

  constructor(
    private readonly host: RpcCallHost,
    private readonly message: InboundMessage,
  ) {}

  /** Handle the request to its settlement; never rejects. */
  async run(): Promise<void> {
    try {
      await this.handle();
    } catch (err) {
      this.host.container.logger.error({ err }, 'unexpected failure handling an RPC request');
    }
    this.host.release(this);
    this.host.settled(this);
  }

  private async handle(): Promise<void> {
    const { host, message } = this;
    const { container } = host;
    const { properties, routingKey } = message;
    const { replyTo, correlationId } = properties;
    const log = container.logger;
    if (message.redelivered) emitObserved({ kind: 'redelivered', service: container.serviceName });

    if (!replyTo) {
      // nameko crashes its consumer here. A reply cannot be sent, and requeueing would
      // loop forever, so the message is dropped (dead-lettered if the queue has a DLX).
      log.warn({ routingKey, correlationId, reason: 'no reply_to' }, 'rejected an RPC request without reply_to: nowhere to send a reply');
      emitObserved({ kind: 'malformed', service: container.serviceName, reason: 'NoReplyTo' });
      message.nack(false);
      return;
    }
    this.prepareReply(properties);
    this.key = `${correlationId ?? ''}\u0000${replyTo}`;

    if (!correlationId) {
      await this.refuse(new MalformedRequest('Message has no correlation_id: the caller could not match a reply to it'));
      return;
    }
    const running = host.running.get(this.key);
    if (running && message.redelivered) {
      log.warn(
        { routingKey, correlationId },
        'a redelivery of a call still running here joins it instead of starting it again: one reply, when it finishes (the broker took the request back after a lost channel, or after its consumer_timeout)',
      );
      running.delivery = message;
      return;
    }
    if (message.body.length > container.config.MAX_MESSAGE_SIZE) {
      const tooLarge = new EnokiError('ENOKI_ERR_BODY_TOO_LARGE', [message.body.length, container.config.MAX_MESSAGE_SIZE]);
      // MalformedRequest keeps nameko's exception type for Python callers; the code is in the text.
      await this.refuse(new MalformedRequest(`${tooLarge.message} [${tooLarge.code}]`));
      return;
    }
    // Only '<service>.<method>' names a method; anything else (a publish straight to the
    // queue) must not be read as one by slicing.
    const prefix = `${container.serviceName}.`;
    const methodName = routingKey.startsWith(prefix) ? routingKey.slice(prefix.length) : null;
    let method: MethodDefinition | undefined;
    let args: unknown[];
    try {
      const request = decodeRequest(message.body, properties);
      method = methodName === null ? undefined : host.methods.get(methodName);
      if (!method) throw new MethodNotFound(methodName ?? routingKey);
      args = bindArguments(method.signature, request.args, request.kwargs);
    } catch (err) {
      await this.refuse(err instanceof Error ? err : new MalformedRequest(String(err)));
      return;
    }

    const { contextData, callIdStack } = contextFromHeaders(properties.headers);
    this.contextData = contextData;
    this.parentCallIdStack = callIdStack;
    this.traceHeaders = properties.headers;
    const queuedAt = host.queuedSince(message);
    if (queuedAt !== undefined) this.waitedMs = performance.now() - queuedAt;
    host.running.set(this.key, { delivery: message, method: method.methodName, startedAt: Date.now() });
    await container.spawnWorker(method, args, this);
    host.release(this);
    await this.answered;
  }

  /** The worker path's answer hook: publish the reply, not awaited by the worker, whose slot is free meanwhile. */
  handleResult(_ctx: WorkerContext, result: unknown, error: Error | undefined): void {
    const answered = this.reply(result, error);
    answered.catch(ignore);
    this.answered = answered;
  }

  private async reply(result: unknown, error: Error | undefined): Promise<void> {
    try {
      await this.answer(result, error);
    } finally {
      this.host.running.delete(this.key);
    }
  }

  /** The reply's format and properties: the request's format (a json service answers a msgpack caller in msgpack). */
  private prepareReply(properties: MessageProperties): void {
    const { settings } = this.host;
    // A request in a format enoki does not read is told so in the service's own.
    const requestFormat = serializerForContentType(properties.contentType);
    const serializer = requestFormat ?? settings.serializer;
    this.serializer = serializer;
    this.replyProperties = {
      contentType: requestFormat ? (properties.contentType ?? serializer.contentType) : serializer.contentType,
      contentEncoding: serializer.contentEncoding,
      correlationId: properties.correlationId,
      deliveryMode: settings.deliveryMode,
      priority: 0,
      confirm: settings.confirm,
    };
  }

  /** The delivery this call answers for: a redelivery that joined it replaces the first. */
  private delivery(): InboundMessage {
    return this.host.running.get(this.key)?.delivery ?? this.message;
  }

  /** A request that cannot be run: counted, logged, answered with `error`. */
  private refuse(error: Error): Promise<void> {
    const { container } = this.host;
    emitObserved({ kind: 'malformed', service: container.serviceName, reason: error.name });
    container.logger.warn({ routingKey: this.message.routingKey, correlationId: this.message.properties.correlationId, reason: `${error.name}: ${error.message}` }, 'RPC request refused');
    return this.answer(undefined, error);
  }

  private async answer(result: unknown, error: Error | undefined): Promise<void> {
    const message = this.delivery();
    if (error instanceof CallAbandoned) {
      // Aborted at shutdown, unanswered: back to the queue now, so another instance takes
      // it without waiting for this connection to close.
      message.nack(true);
      return;
    }
    const { container } = this.host;
    const log = container.logger;
    const { routingKey } = this.message;
    const { correlationId } = this.message.properties;
    const includeStack = container.config.INCLUDE_REMOTE_STACK;
    let body: Buffer;
    try {
      body = encodeReply({ result: error ? null : result, error: error ? serializeError(error, includeStack) : null }, this.serializer);
    } catch (err) {
      // A cycle, a throwing toJSON, nesting too deep: answer with nameko's error for it.
      log.error({ routingKey, correlationId, err }, 'the result cannot be serialized; replying with an error');
      body = encodeReply({ result: null, error: serializeError(new UnserializableValueError(`Unserializable value: ${(err as Error).message}`)) }, this.serializer);
    }
    try {
      const published = this.publishReply(body);
      if (published) await published;
    } catch (err) {
      if (isEnokiError(err, 'ENOKI_ERR_DISCONNECTED')) {
        emitObserved({ kind: 'reply_dropped', service: container.serviceName, reason: 'not_confirmed' });
        log.warn({ routingKey, correlationId, reason: (err as Error).message }, 'reply not confirmed: the request returns to its queue and is answered again');
        return;
      }
      // The connection is up but the broker refused this reply. Tell the caller with
      // a small error reply rather than leave the request unacknowledged for ever.
      log.error({ routingKey, correlationId, reason: (err as Error).message }, 'the broker refused the reply; sending an error reply instead');
      try {
        await this.publishReply(encodeReply({ result: null, error: serializeError(new ReplyNotDelivered(`the reply could not be published: ${(err as Error).message}`)) }, this.serializer));
      } catch (second) {
        // Requeue once: a transient refusal gets another try, a repeatable one cannot loop.
        log.error({ routingKey, correlationId, reason: (second as Error).message, requeue: !message.redelivered }, 'could not publish an error reply either');
        message.nack(!message.redelivered);
        return;
      }
    }
    message.ack();
  }

  /** Publish the reply: a promise of its confirm, or nothing when it went unconfirmed on the request's channel. */
  private publishReply(body: Buffer): Promise<void> | undefined {
    const { host } = this;
    const { rpc_exchange: exchange } = host.container.config;
    const replyTo = this.message.properties.replyTo!;
    // Unconfirmed, the reply goes on the request's own channel, so the ack that follows
    // reaches the broker after it (README, "Delivery guarantees").
    if (!host.settings.confirm && this.message.publishOnChannel) {
      if (!this.delivery().publishOnChannel!(exchange, replyTo, body, this.replyProperties)) {
        throw new EnokiError('ENOKI_ERR_DISCONNECTED', [host.transport.displayUri, 'the request\'s channel closed before the reply was published']);
      }
      return undefined;
    }
    return host.transport.publish(exchange, replyTo, body, this.replyProperties);
  }
}
