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
//
// This file holds the queue, the slots and the waiting line; each request is one RpcCall
// (rpc-call.ts), from its delivery to its settlement.

import { EnokiError } from '../errors.js';
import type { Entrypoint, MarkedMethod } from '../entrypoint.js';
import type { ExtensionHost } from '../extension-host.js';
import type { MethodDefinition } from '../service-definition.js';
import type { InboundMessage, Subscription, Transport } from '../transport/transport.js';
import { withQueueType } from '../transport/queue-type.js';
import { publishSettings, type PublishSettings } from './publish-settings.js';
import { RpcCall, type RpcCallHost, type RunningCall } from './rpc-call.js';
import { consumerTimeoutArgumentError, planLongTasks, type LongTaskPlan } from './long-tasks.js';

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
  /** What each call (rpc-call.ts) reads from here; made at start. */
  private callHost: RpcCallHost | null = null;
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
    const transport = (this.transport = await container.getTransport());
    // DELIVERY_MODE, PUBLISH_CONFIRMS and SERIALIZER of the replies, read once.
    const settings: PublishSettings = publishSettings(container.config, {}, 'config');
    this.callHost = {
      container,
      transport,
      settings,
      methods: this.methods,
      running: this.running,
      queuedSince: (message) => this.queuedAt.get(message),
      release: (call) => this.releaseSlot(call),
      settled: () => this.callSettled(),
    };
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
    void new RpcCall(this.callHost!, message).run();
  }

  /** A call's method returned (or it never ran): the next waiting request may start. */
  private releaseSlot(call: RpcCall): void {
    if (call.released) return;
    call.released = true;
    this.busy--;
    while (!this.stopping && this.waiting.length > 0 && this.busy < this.container.config.max_workers) this.accept(this.waiting.shift()!);
  }

  /** A call is settled: a graceful stop may be waiting for the last one. */
  private callSettled(): void {
    if (--this.unsettled === 0) this.wakeSettledWaiters();
  }

  private wakeSettledWaiters(): void {
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
