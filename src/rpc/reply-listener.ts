// The caller's side of RPC: one reply queue per client (or per service that calls other
// services), many calls in flight on it, matched by correlation id.
//
// Queue and binding exactly as nameko's: queue 'rpc.reply-<owner>-<uuid>', durable, with
// x-expires 300000, bound to the rpc exchange with routing key '<uuid>'; requests carry
// that uuid in reply_to. A durable queue that outlives a dropped connection means replies
// sent while the caller was reconnecting are still there when it comes back.
//
// At-least-once, as nameko: a request whose publish confirm was lost with the connection
// is sent again on the next one (same correlation id) while its call is still waiting;
// the service may then answer twice, and the second reply finds no pending call and is
// dropped. A caller's timeout covers everything: waiting for the reply queue, for a lost
// connection, and for the reply.
//
// In a RabbitMQ cluster the reply queue is a classic queue on the node the client was
// connected to when it declared it. If that node goes down, the queue goes with it: a
// re-declare on another node is refused (404 "home node ... is down"), and replies routed
// to it are lost. The listener then moves to a new queue on the node it now uses, and the
// calls whose request named the lost queue fail at once with ENOKI_ERR_REPLY_QUEUE_LOST
// instead of hanging until their timeout: they may have run, so whether to call again is
// the caller's decision (the listener does not send them again).

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { EnokiError, isEnokiError, RpcTimeout, UnknownService } from '../errors.js';
import { UnroutableError, type PublishOptions, type Subscription, type Transport } from '../transport/transport.js';
import { errorText } from '../uri-secrets.js';
import { headersFromContext, type ContextData } from '../context-headers.js';
import { endWhenSettled, startClientSpan } from '../tracing/client-span.js';
import { tracingOn } from '../tracing/otel.js';
import { decodeReply, deserializeError, encodeRequest } from './wire.js';
import { publishSettings, type PublishSettings } from './publish-settings.js';
import { emitObserved } from '../observed-events.js';

const REPLY_QUEUE_EXPIRES_MS = 300_000;

/** nameko's: JSON, persistent, confirmed. */
const DEFAULT_SETTINGS = publishSettings({ SERIALIZER: 'json', DELIVERY_MODE: 'persistent', PUBLISH_CONFIRMS: true });

/** Options of one call: {@link ClusterRpcProxy.call}'s `options`. */
export interface CallOptions {
  /** Keyword arguments, bound to the method's parameter names as a Python caller's are. */
  kwargs?: Record<string, unknown>;
  /** Context data for this call, sent as `nameko.<key>` headers (over the client's own). */
  contextData?: ContextData;
  /** The call id stack sent as `nameko.call_id_stack`; a ClusterRpcProxy always sends its own. */
  callIdStack?: readonly string[];
  /**
   * Milliseconds to wait for the reply; null waits forever. Left out, ClusterRpcProxy
   * uses the client's default (ClientOptions.timeoutMs, else RPC_TIMEOUT).
   */
  timeoutMs?: number | null;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
  /** The broker confirmed the request (at least once). */
  sent: boolean;
  /** The routing key of the reply queue its last publish named (set before the publish). */
  replyTo?: string;
  target: string;
}

/** RabbitMQ's refusal to declare a durable classic queue whose node is down (404 NOT_FOUND). */
const HOME_NODE_DOWN = /home node '([^']*)' of durable queue .* is down or inaccessible/;

/** The transport's mark on a publish whose confirm was lost with the connection (see amqp-connection-options.ts). */
function confirmLost(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { confirmLost?: unknown }).confirmLost === true;
}

export class ReplyListener {
  /** The reply queue's routing key (requests' reply_to); new when its queue was lost with its node. */
  routingKey = randomUUID();
  queueName: string;
  private readonly pending = new Map<string, Pending>();
  private subscription: Subscription | null = null;
  private starting: Promise<void> | null = null;
  /** The routing key whose reply queue is consumed: a call to it need not wait for start(). */
  private startedKey: string | null = null;
  private closedReason: string | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly exchange: string,
    private readonly owner: string,
    private readonly logger: Logger,
  ) {
    this.queueName = `rpc.reply-${owner}-${this.routingKey}`;
  }

  /** Calls waiting for their reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  start(): Promise<void> {
    const routingKey = this.routingKey;
    this.starting ??= this.transport
      .consume(
        {
          queue: { name: this.queueName, durable: true, autoDelete: false, exclusive: false, arguments: { 'x-expires': REPLY_QUEUE_EXPIRES_MS } },
          exchange: this.exchange,
          bindings: [routingKey],
          prefetch: 0,
          onChannelError: (err) => {
            const lost = HOME_NODE_DOWN.exec(err.message);
            if (lost && routingKey === this.routingKey) this.queueLost(lost[1]!);
          },
        },
        (message) => {
          message.ack();
          const correlationId = message.properties.correlationId;
          const pending = correlationId === undefined ? undefined : this.pending.get(correlationId);
          if (!pending) {
            // A reply after its call timed out, or a second reply to a redelivered
            // request (at-least-once): the caller has what it needs, drop it.
            this.logger.debug({ correlationId }, 'dropped a reply for no pending call (late or duplicate)');
            emitObserved({ kind: 'reply_dropped', service: this.owner, reason: 'late_or_duplicate' });
            return;
          }
          this.settle(correlationId!);
          let reply;
          try {
            reply = decodeReply(message.body, message.properties.contentType);
          } catch (err) {
            pending.reject(err as Error);
            return;
          }
          if (reply.error) pending.reject(deserializeError(reply.error));
          else pending.resolve(reply.result);
        },
      )
      .then(
        (subscription) => {
          // A queue lost while its first consume was under way: that subscription is not wanted.
          if (routingKey !== this.routingKey) subscription.cancel().catch(() => undefined);
          else {
            this.subscription = subscription;
            this.startedKey = routingKey;
          }
        },
        (err: unknown) => {
          // Let the next call try again rather than fail forever on one bad start.
          this.starting = null;
          throw err;
        },
      );
    return this.starting;
  }

  /**
   * The reply queue went down with `node`: reply on a new queue from now on, and fail the
   * calls whose request named the old one (their reply cannot arrive).
   */
  private queueLost(node: string): void {
    if (this.closedReason) return;
    const lostKey = this.routingKey;
    const lostQueue = this.queueName;
    const old = this.subscription;
    this.subscription = null;
    this.starting = null;
    this.routingKey = randomUUID();
    this.queueName = `rpc.reply-${this.owner}-${this.routingKey}`;
    // Stops the transport re-declaring the lost queue (it would keep being refused).
    old?.cancel().catch(() => undefined);
    let failed = 0;
    for (const [correlationId, pending] of [...this.pending]) {
      if (pending.replyTo !== lostKey) continue;
      this.settle(correlationId);
      pending.reject(new EnokiError('ENOKI_ERR_REPLY_QUEUE_LOST', [pending.target, node]));
      failed++;
    }
    this.logger.warn({ queue: lostQueue, node, failedCalls: failed, newQueue: this.queueName }, 'the reply queue was lost with its broker node; replying on a new queue');
    this.start().catch((err: unknown) => this.logger.warn({ err: errorText(err) }, 'cannot declare the new reply queue yet; the next call tries again'));
  }

  private settle(correlationId: string): void {
    const pending = this.pending.get(correlationId);
    if (pending?.timer) clearTimeout(pending.timer);
    this.pending.delete(correlationId);
  }

  /**
   * Publish a request and wait for its reply. The timeout covers everything, including
   * waiting for a lost connection to come back.
   */
  async call(service: string, method: string, args: readonly unknown[], options: CallOptions = {}, settings: PublishSettings = DEFAULT_SETTINGS): Promise<unknown> {
    if (this.closedReason) throw new EnokiError('ENOKI_ERR_CLIENT_CLOSED', [`${service}.${method}`]);
    const correlationId = randomUUID();
    const timeoutMs = options.timeoutMs ?? undefined;
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    const target = `${service}.${method}`;
    // Pending from the start, so close() and the timeout reach a call still waiting for
    // the reply queue or the connection.
    const result = new Promise<unknown>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined, sent: false, target };
      if (timeoutMs !== undefined) pending.timer = setTimeout(() => this.timeOut(correlationId, target, timeoutMs), timeoutMs);
      this.pending.set(correlationId, pending);
    });
    const { serializer } = settings;
    let body: Buffer;
    try {
      body = encodeRequest(args, options.kwargs ?? {}, serializer);
    } catch (err) {
      this.settle(correlationId);
      throw err;
    }
    const properties = {
      // Unconfirmed, a return is not reported: a call to a service nobody serves waits for its timeout.
      mandatory: true,
      confirm: settings.confirm,
      contentType: serializer.contentType,
      contentEncoding: serializer.contentEncoding,
      deliveryMode: settings.deliveryMode,
      priority: 0,
      correlationId,
      headers: headersFromContext(options.contextData ?? {}, options.callIdStack ?? []),
    };
    if (tracingOn()) {
      const span = startClientSpan(target, properties.headers, { 'rpc.system': 'nameko', 'rpc.service': service, 'rpc.method': method, 'messaging.message.conversation_id': correlationId });
      endWhenSettled(span, result);
    }
    this.send(correlationId, service, target, body, properties, deadline).catch((err: unknown) => {
      const pending = this.pending.get(correlationId);
      if (!pending) return;
      this.settle(correlationId);
      pending.reject(err instanceof UnroutableError ? new UnknownService(service, target, this.exchange) : (err as Error));
    });
    return result;
  }

  private async send(
    correlationId: string,
    service: string,
    target: string,
    body: Buffer,
    properties: PublishOptions,
    deadline: number,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      // The reply queue this request names must exist before it leaves (it may have just
      // been replaced, see queueLost).
      const replyTo = this.routingKey;
      if (this.startedKey !== replyTo) {
        // Only until the reply queue is consumed (and again after it was lost): a call
        // then pays no await for it.
        await this.start();
        if (replyTo !== this.routingKey) continue;
      }
      const pending = this.pending.get(correlationId);
      if (!pending) return; // answered, timed out or closed meanwhile
      const waitMs = Number.isFinite(deadline) ? deadline - Date.now() : undefined;
      if (waitMs !== undefined && waitMs <= 0) return; // the call's timer reports it
      pending.replyTo = replyTo;
      try {
        // This call's own properties object: set, not copied (read synchronously by the publish).
        properties.replyTo = replyTo;
        await this.transport.publish(this.exchange, target, body, properties, waitMs);
        pending.sent = true;
        return;
      } catch (err) {
        if (confirmLost(err) && !this.closedReason) {
          this.logger.info({ correlationId, service, attempt }, 'request confirm lost with the connection; sending it again');
          continue;
        }
        // Gave up waiting for the connection at the call's deadline: the call's own timer
        // reports it, naming the call.
        if (isEnokiError(err, 'ENOKI_ERR_DISCONNECTED') && Number.isFinite(deadline)) return;
        throw err;
      }
    }
  }

  private timeOut(correlationId: string, target: string, timeoutMs: number): void {
    const pending = this.pending.get(correlationId);
    if (!pending) return;
    this.pending.delete(correlationId);
    if (!pending.sent && !this.transport.connected) {
      pending.reject(
        new EnokiError('ENOKI_ERR_DISCONNECTED', [
          this.transport.displayUri,
          `call ${target} gave up after ${timeoutMs} ms waiting for the broker; the broker never confirmed the request`,
        ]),
      );
    } else {
      pending.reject(new RpcTimeout(target, timeoutMs));
    }
  }

  /** Fail every pending call with `reason` and stop consuming. */
  async close(reason = 'the client was closed'): Promise<void> {
    if (this.closedReason) return;
    this.closedReason = reason;
    for (const [correlationId, pending] of [...this.pending]) {
      this.settle(correlationId);
      pending.reject(new EnokiError('ENOKI_ERR_CLIENT_CLOSED', [`pending call ${correlationId} (${reason})`]));
    }
    await this.starting?.catch(() => undefined);
    await this.subscription?.cancel().catch(() => undefined);
  }
}
