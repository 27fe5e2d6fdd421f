// The RPC entrypoint: consumes 'rpc-<service>' (bound '<service>.*' on the rpc exchange,
// prefetch = max_workers), runs each request through the container's worker path, replies
// on the exchange with the request's reply_to as routing key, and acknowledges the request
// only after the reply is confirmed by the broker (at-least-once, as nameko).
//
// No message can take the consumer down or stay unacknowledged for ever: bad bodies,
// unknown methods and wrong arity get nameko's error replies; a request with nowhere to
// reply to is rejected (not requeued, so it cannot loop) and logged with the reason; a
// result that cannot be serialized or carried is answered with an error instead.
//
// When the connection drops before a reply is confirmed, the request's own channel went
// with it, so the broker has put the request back and it will be answered again: the
// caller drops whichever reply comes second.
//
// Throughput: a call holds one of `max_workers` only while its method runs. Its reply then
// travels to the broker and is confirmed while the next request's method already runs; the
// request stays unacknowledged until that confirm, as before. The prefetch is therefore
// max_workers + MAX_PENDING_REPLIES: room for the replies on their way as well as the calls
// running. Requests delivered while every worker is busy wait here, in order; a graceful
// stop hands those back to the queue at once (another instance takes them) instead of
// running them, and then waits until every call it started is answered.
//
// A redelivery of a call that is still running in this process (same correlation id and
// reply_to, `redelivered` set: the broker took it back after a lost channel, or after
// RabbitMQ's consumer_timeout closed the channel under a long call) is not started again:
// it joins the running call, held unacknowledged, and when the call finishes one reply is
// published and the latest delivery acknowledged. Without this a long @cpuBound task is
// started again on every redelivery, for ever.

import { CallAbandoned, EnokiError, isEnokiError, MalformedRequest, MethodNotFound } from '../errors.js';
import type { Entrypoint, MarkedMethod } from '../entrypoint.js';
import type { ExtensionHost } from '../extension-host.js';
import type { MethodDefinition } from '../service-definition.js';
import { bindArguments } from '../signature.js';
import type { InboundMessage, Subscription, Transport } from '../transport/transport.js';
import { withQueueType } from '../transport/queue-type.js';
import { contextFromHeaders } from '../context-headers.js';
import { emitObserved } from '../observed-events.js';
import { decodeRequest, encodeReply, serializeError } from './wire.js';
import { serializerForContentType } from '../serializer.js';
import { publishSettings, type PublishSettings } from './publish-settings.js';
import { consumerTimeoutArgumentError, planLongTasks, type LongTaskPlan } from './long-tasks.js';

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

/** A call running here: the delivery to acknowledge when it ends (a redelivery that joined it replaces the first). */
interface RunningCall {
  delivery: InboundMessage;
  method: string;
  startedAt: number;
}

/** RabbitMQ's channel close for a delivery past consumer_timeout (PRECONDITION_FAILED). */
const CONSUMER_TIMEOUT = /delivery acknowledgement on channel \d+ timed out/i;

/** Serves every @rpc method of one container (made by the rpc kind in rpc-decorator.ts). */
export class RpcConsumer implements Entrypoint {
  private subscription: Subscription | null = null;
  private transport: Transport | null = null;
  /** The @rpc methods by wire name. */
  readonly methods = new Map<string, MethodDefinition>();
  /** Calls running here, by correlation id and reply_to: the delivery to acknowledge when each ends. */
  private readonly running = new Map<string, RunningCall>();
  /** DELIVERY_MODE, PUBLISH_CONFIRMS and SERIALIZER of the replies, read once. */
  private settings: PublishSettings | null = null;
  /** Deliveries being handled whose method has not returned yet (at most max_workers). */
  private busy = 0;
  /** Deliveries waiting for `busy` to drop below max_workers, in arrival order. */
  private readonly waiting: InboundMessage[] = [];
  /** performance.now() when a delivery had to wait for a worker (only those). */
  private readonly queuedAt = new WeakMap<InboundMessage, number>();
  /** Deliveries taken and not settled yet (method running, or reply on its way). */
  private unsettled = 0;
  private settledWaiters: Array<() => void> = [];
  private stopping = false;
  /** What `@cpuBound({ maxSeconds })` methods ask of the broker (long-tasks.ts), once started. */
  private longTasks: LongTaskPlan | undefined;
  /** The refusal of the queue's x-consumer-timeout is explained once, not on every retry. */
  private argumentRefusalLogged = false;

  constructor(
    private readonly container: ExtensionHost,
    marked: ReadonlyArray<MarkedMethod<{ name: string | undefined }>>,
  ) {
    for (const { method, options } of marked) {
      const name = options.name ?? method.methodName;
      const other = this.methods.get(name);
      if (other && other !== method) {
        throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [container.serviceName, `two methods answer RPC name ${name} (${other.methodName}, ${method.methodName})`]);
      }
      this.methods.set(name, method);
    }
  }

  get queueName(): string {
    return `rpc-${this.container.serviceName}`;
  }

  async start(): Promise<void> {
    const { container } = this;
    this.transport = await container.getTransport();
    this.longTasks = this.planLongTasks();
    const queue = withQueueType({ name: this.queueName, durable: true, autoDelete: false, exclusive: false }, container.config.QUEUE_TYPE);
    if (this.longTasks?.queueArguments) queue.arguments = { ...queue.arguments, ...this.longTasks.queueArguments };
    this.subscription = await this.transport.consume(
      {
        queue,
        exchange: container.config.rpc_exchange,
        bindings: [`${container.serviceName}.*`],
        prefetch: container.config.max_workers + container.config.MAX_PENDING_REPLIES,
        onChannelError: (err) => this.channelError(err),
      },
      (message) => this.accept(message),
    );
  }

  /**
   * The queue's consumer timeout for `@cpuBound({ maxSeconds })` methods: an x-consumer-timeout
   * argument on RabbitMQ 3.12+, else one log line saying which broker setting to change.
   * memory:// has no consumer timeout (no brokerVersion, no AMQP): nothing to do.
   */
  private planLongTasks(): LongTaskPlan | undefined {
    const { container, transport } = this;
    if (!transport || !('brokerVersion' in transport)) return undefined;
    const methods = [...this.methods.values()]
      .filter((m) => m.cpuBound?.maxSeconds !== undefined)
      .map((m) => ({ method: `${container.serviceName}.${m.methodName}`, maxSeconds: m.cpuBound!.maxSeconds! }));
    const plan = planLongTasks({
      queue: this.queueName,
      methods,
      brokerVersion: transport.brokerVersion,
      maxWorkers: container.config.max_workers,
      maxPendingReplies: container.config.MAX_PENDING_REPLIES,
    });
    if (plan?.notice) {
      const { level, error } = plan.notice;
      container.logger[level]({ code: error.code, queue: this.queueName, method: plan.longest.method, maxSeconds: plan.longest.maxSeconds, timeoutMs: plan.timeoutMs }, error.message);
    } else if (plan?.queueArguments) {
      container.logger.info({ queue: this.queueName, method: plan.longest.method, timeoutMs: plan.timeoutMs, brokerVersion: transport.brokerVersion }, 'long tasks: the service queue is declared with x-consumer-timeout');
    }
    return plan;
  }

  /**
   * Graceful: take no more requests, hand back those still waiting for a worker, and
   * resolve once every call started here is answered (its request acknowledged).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.subscription?.cancel();
    this.subscription = null;
    for (const message of this.waiting.splice(0)) message.nack(true);
    if (this.unsettled > 0) await new Promise<void>((resolve) => this.settledWaiters.push(resolve));
  }

  /** Forced: the connection is about to close, and the broker requeues whatever is unacknowledged. */
  kill(): void {
    this.stopping = true;
    this.waiting.length = 0;
    void this.subscription?.cancel();
    this.subscription = null;
    this.wakeSettledWaiters();
  }

  /**
   * The broker closed our channel. For RabbitMQ's consumer_timeout, say so once, as a coded
   * error naming the call that outlived it (the longest running) and the fix; the
   * redelivery that follows joins that call (see the top of this file).
   */
  private channelError(err: Error): void {
    const refused = this.longTasks && consumerTimeoutArgumentError(err, this.queueName, this.longTasks.timeoutMs);
    if (refused) {
      if (this.argumentRefusalLogged) return;
      this.argumentRefusalLogged = true;
      this.container.logger.error({ code: refused.code, queue: this.queueName, timeoutMs: this.longTasks!.timeoutMs }, refused.message);
      return;
    }
    if (!CONSUMER_TIMEOUT.test(err.message)) return;
    let oldest: RunningCall | undefined;
    for (const call of this.running.values()) if (!oldest || call.startedAt < oldest.startedAt) oldest = call;
    const consumerTimeoutMs = Number(/Timeout value used: (\d+)/.exec(err.message)?.[1] ?? NaN);
    const runningSeconds = oldest ? Math.round((Date.now() - oldest.startedAt) / 1000) : 0;
    const method = oldest ? `${this.container.serviceName}.${oldest.method}` : `a call of ${this.container.serviceName}`;
    const coded = new EnokiError('ENOKI_ERR_CONSUMER_TIMEOUT', [
      `queue ${this.queueName}`,
      Number.isFinite(consumerTimeoutMs) ? `${consumerTimeoutMs} ms` : 'its value was not given',
      method,
      runningSeconds,
    ]);
    this.container.logger.error({ code: coded.code, queue: this.queueName, method, runningSeconds, consumerTimeoutMs, calls: this.running.size }, coded.message);
  }

  /** A delivery: handled now if a worker is free, else queued here in order. */
  private accept(message: InboundMessage): void {
    if (this.stopping) {
      message.nack(true);
      return;
    }
    if (this.busy >= this.container.config.max_workers) {
      this.waiting.push(message);
      // The worker path reports this wait with the call (metrics' slot wait).
      this.queuedAt.set(message, performance.now());
      return;
    }
    this.busy++;
    this.unsettled++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.busy--;
      while (!this.stopping && this.waiting.length > 0 && this.busy < this.container.config.max_workers) this.accept(this.waiting.shift()!);
    };
    this.handle(message, release)
      .catch((err) => this.container.logger.error({ err }, 'unexpected failure handling an RPC request'))
      .finally(() => {
        release();
        if (--this.unsettled === 0) this.wakeSettledWaiters();
      });
  }

  private wakeSettledWaiters(): void {
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** One request, to its settlement; `release` lets the next request's method run (called once the method returned). */
  private async handle(message: InboundMessage, release: () => void): Promise<void> {
    const { container } = this;
    const { replyTo, correlationId } = message.properties;
    const { routingKey } = message;
    const prefix = `${container.serviceName}.`;
    // Only '<service>.<method>' names a method; anything else (a publish straight to the
    // queue) must not be read as one by slicing.
    const methodName = routingKey.startsWith(prefix) ? routingKey.slice(prefix.length) : null;
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
    const includeStack = container.config.INCLUDE_REMOTE_STACK;
    // The reply goes in the request's format (a json service answers a msgpack caller in
    // msgpack); a request in a format enoki does not read is told so in the service's own.
    const settings = this.settings ??= publishSettings(container.config, {}, 'config');
    const requestFormat = serializerForContentType(message.properties.contentType);
    const serializer = requestFormat ?? settings.serializer;
    const replyProperties = {
      contentType: requestFormat ? (message.properties.contentType ?? serializer.contentType) : serializer.contentType,
      contentEncoding: serializer.contentEncoding,
      correlationId,
      deliveryMode: settings.deliveryMode,
      priority: 0,
    };
    const publishReply = async (body: Buffer): Promise<void> => {
      // Unconfirmed, the reply goes on the request's own channel, so the ack that follows
      // reaches the broker after it (README, "Delivery guarantees").
      if (!settings.confirm && message.publishOnChannel) {
        if (!delivery().publishOnChannel!(container.config.rpc_exchange, replyTo, body, replyProperties)) {
          throw new EnokiError('ENOKI_ERR_DISCONNECTED', [this.transport!.displayUri, 'the request\'s channel closed before the reply was published']);
        }
        return;
      }
      await this.transport!.publish(container.config.rpc_exchange, replyTo, body, { ...replyProperties, confirm: settings.confirm });
    };
    const key = `${correlationId ?? ''}\u0000${replyTo}`;
    // The delivery this call answers for: a redelivery that joined it replaces the first.
    const delivery = (): InboundMessage => this.running.get(key)?.delivery ?? message;
    const reply = async (result: unknown, error: Error | undefined): Promise<void> => {
      try {
        await answer(result, error);
      } finally {
        this.running.delete(key);
      }
    };
    const answer = async (result: unknown, error: Error | undefined): Promise<void> => {
      const message = delivery();
      if (error instanceof CallAbandoned) {
        // Aborted at shutdown, unanswered: back to the queue now, so another instance takes
        // it without waiting for this connection to close.
        message.nack(true);
        return;
      }
      let body: Buffer;
      try {
        body = encodeReply({ result: error ? null : result, error: error ? serializeError(error, includeStack) : null }, serializer);
      } catch (err) {
        // A cycle, a throwing toJSON, nesting too deep: answer with nameko's error for it.
        log.error({ routingKey, correlationId, err }, 'the result cannot be serialized; replying with an error');
        body = encodeReply({ result: null, error: serializeError(new UnserializableValueError(`Unserializable value: ${(err as Error).message}`)) }, serializer);
      }
      try {
        await publishReply(body);
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
          await publishReply(encodeReply({ result: null, error: serializeError(new ReplyNotDelivered(`the reply could not be published: ${(err as Error).message}`)) }, serializer));
        } catch (second) {
          // Requeue once: a transient refusal gets another try, a repeatable one cannot loop.
          log.error({ routingKey, correlationId, reason: (second as Error).message, requeue: !message.redelivered }, 'could not publish an error reply either');
          message.nack(!message.redelivered);
          return;
        }
      }
      message.ack();
    };
    const rejectCall = async (error: Error): Promise<void> => {
      emitObserved({ kind: 'malformed', service: container.serviceName, reason: error.name });
      log.warn({ routingKey, correlationId, reason: `${error.name}: ${error.message}` }, 'RPC request refused');
      await answer(undefined, error);
    };

    if (!correlationId) {
      await rejectCall(new MalformedRequest('Message has no correlation_id: the caller could not match a reply to it'));
      return;
    }
    const running = this.running.get(key);
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
      await rejectCall(new MalformedRequest(`${tooLarge.message} [${tooLarge.code}]`));
      return;
    }
    let request;
    let method: MethodDefinition | undefined;
    let args: unknown[];
    try {
      request = decodeRequest(message.body, message.properties);
      method = methodName === null ? undefined : this.methods.get(methodName);
      if (!method) throw new MethodNotFound(methodName ?? routingKey);
      args = bindArguments(method.signature, request.args, request.kwargs);
    } catch (err) {
      await rejectCall(err instanceof Error ? err : new MalformedRequest(String(err)));
      return;
    }

    const { contextData, callIdStack } = contextFromHeaders(message.properties.headers);
    this.running.set(key, { delivery: message, method: method.methodName, startedAt: Date.now() });
    let answered: Promise<void> | undefined;
    const queuedAt = this.queuedAt.get(message);
    await container.spawnWorker(method, args, {
      entrypoint: 'rpc',
      contextData,
      parentCallIdStack: callIdStack,
      traceHeaders: message.properties.headers,
      waitedMs: queuedAt === undefined ? undefined : performance.now() - queuedAt,
      handleResult: (_ctx, result, error) => {
        // Not awaited by the worker: its slot is free while the reply is confirmed.
        answered = reply(result, error);
        answered.catch(() => undefined);
      },
    });
    release();
    await answered;
  }
}
