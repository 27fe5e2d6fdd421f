// The caller's side of RPC: one reply queue per client (or per service that calls other
// services), many calls in flight on it, matched by correlation id.
//
// Queue and binding exactly as nameko's: queue 'rpc.reply-<owner>-<uuid>', durable, with
// x-expires 300000, bound to the rpc exchange with routing key '<uuid>'; requests carry
// that uuid in reply_to. A durable queue that outlives a dropped connection means replies
// sent while the caller was reconnecting are still there when it comes back.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { EnokiError, RpcTimeout, UnknownService } from '../errors.js';
import { UnroutableError, type Subscription, type Transport } from '../transport/transport.js';
import { decodeReply, deserializeError, encodeRequest, headersFromContext, JSON_CONTENT_TYPE, type ContextData } from './wire.js';

const REPLY_QUEUE_EXPIRES_MS = 300_000;

export interface CallOptions {
  kwargs?: Record<string, unknown>;
  contextData?: ContextData;
  callIdStack?: readonly string[];
  /** Milliseconds; undefined or null = wait forever. */
  timeoutMs?: number | null;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export class ReplyListener {
  readonly routingKey = randomUUID();
  readonly queueName: string;
  private readonly pending = new Map<string, Pending>();
  private subscription: Subscription | null = null;
  private starting: Promise<void> | null = null;
  private closedReason: string | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly exchange: string,
    owner: string,
    private readonly logger: Logger,
  ) {
    this.queueName = `rpc.reply-${owner}-${this.routingKey}`;
  }

  /** Calls waiting for their reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  start(): Promise<void> {
    this.starting ??= this.transport
      .consume(
        {
          queue: { name: this.queueName, durable: true, autoDelete: false, exclusive: false, arguments: { 'x-expires': REPLY_QUEUE_EXPIRES_MS } },
          exchange: this.exchange,
          bindings: [this.routingKey],
          prefetch: 0,
        },
        (message) => {
          message.ack();
          const correlationId = message.properties.correlationId;
          const pending = correlationId === undefined ? undefined : this.pending.get(correlationId);
          if (!pending) {
            // A reply after its call timed out, or a second reply to a redelivered
            // request (at-least-once): the caller has what it needs, drop it.
            this.logger.debug({ correlationId }, 'dropped a reply for no pending call (late or duplicate)');
            return;
          }
          this.settle(correlationId!);
          let reply;
          try {
            reply = decodeReply(message.body);
          } catch (err) {
            pending.reject(err as Error);
            return;
          }
          if (reply.error) pending.reject(deserializeError(reply.error));
          else pending.resolve(reply.result);
        },
      )
      .then((subscription) => {
        this.subscription = subscription;
      });
    return this.starting;
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
  async call(service: string, method: string, args: readonly unknown[], options: CallOptions = {}): Promise<unknown> {
    if (this.closedReason) throw new EnokiError('ENOKI_ERR_CLIENT_CLOSED', [`${service}.${method}`]);
    await this.start();
    const correlationId = randomUUID();
    const timeoutMs = options.timeoutMs ?? undefined;
    const target = `${service}.${method}`;
    const result = new Promise<unknown>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.pending.delete(correlationId);
          reject(new RpcTimeout(target, timeoutMs));
        }, timeoutMs);
      }
      this.pending.set(correlationId, pending);
    });
    const body = encodeRequest(args, options.kwargs ?? {});
    this.transport
      .publish(
        this.exchange,
        target,
        body,
        {
          mandatory: true,
          contentType: JSON_CONTENT_TYPE,
          contentEncoding: 'utf-8',
          deliveryMode: 2,
          priority: 0,
          correlationId,
          replyTo: this.routingKey,
          headers: headersFromContext(options.contextData ?? {}, options.callIdStack ?? []),
        },
        timeoutMs,
      )
      .catch((err: unknown) => {
        const pending = this.pending.get(correlationId);
        if (!pending) return;
        this.settle(correlationId);
        pending.reject(err instanceof UnroutableError ? new UnknownService(service, target, this.exchange) : (err as Error));
      });
    return result;
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
