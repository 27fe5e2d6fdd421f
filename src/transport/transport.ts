// The messaging surface enoki needs from a broker, in AMQP's own terms (topic exchanges,
// queues, bindings, prefetch, ack/nack, mandatory publish with confirms). Two
// implementations: amqp-transport.ts (RabbitMQ through amqplib) and memory-transport.ts
// (one process, no broker: unit tests and the broker-less demo). Everything above this
// file (consumers, clients, containers) is written once against this interface, so the
// two cannot drift apart.

/** A queue to declare: name and flags, as AMQP's queue.declare takes them. */
export interface QueueSpec {
  /** Queue name. */
  name: string;
  /** Survives a broker restart. */
  durable: boolean;
  /** Deleted when its last consumer goes. */
  autoDelete: boolean;
  /** Only this connection may use it; deleted when the connection goes. */
  exclusive: boolean;
  /** x-arguments, e.g. { 'x-expires': 300000 }. */
  arguments?: Record<string, unknown>;
}

/** What Transport.consume declares and consumes: a queue bound to a topic exchange. */
export interface ConsumeSpec {
  /** The queue to declare and consume. */
  queue: QueueSpec;
  /** Topic exchange the queue is bound to (declared durable if missing). */
  exchange: string;
  /** Binding keys, e.g. ['greeting_service.*']. */
  bindings: string[];
  /** Unacknowledged deliveries allowed at once on this consumer; 0 = unlimited. */
  prefetch: number;
  /**
   * The broker closed the consumer's channel with an error (a delivery past RabbitMQ's
   * consumer_timeout, say). The transport consumes again by itself; this is for the
   * owner's own log, which knows what was running.
   */
  onChannelError?: (err: Error) => void;
}

/** AMQP message properties, as enoki reads and writes them. */
export interface MessageProperties {
  contentType?: string;
  contentEncoding?: string;
  correlationId?: string;
  replyTo?: string;
  deliveryMode?: number;
  priority?: number;
  messageId?: string;
  headers?: Record<string, unknown>;
}

/** A message delivered to a consumer, with the means to settle it. */
export interface InboundMessage {
  /** The message body. */
  readonly body: Buffer;
  /** Its properties (content type, headers, ...). */
  readonly properties: MessageProperties;
  /** The exchange it was published to. */
  readonly exchange: string;
  /** The routing key it was published with. */
  readonly routingKey: string;
  /** True when the broker delivered this message before (it was not acknowledged). */
  readonly redelivered: boolean;
  /** Acknowledge: the broker forgets the message. A no-op if the channel it came on is gone. */
  ack(): void;
  /** Negative-acknowledge: back to the queue when `requeue`, dropped (or dead-lettered) otherwise. */
  nack(requeue: boolean): void;
  /**
   * Publish unconfirmed on the channel this message came on, so that an ack() made after it
   * reaches the broker after this publish (AMQP keeps one channel's commands in order).
   * False when that channel is gone (the broker has requeued this message). Absent on
   * transports without channels: use Transport.publish with `confirm: false`.
   */
  publishOnChannel?(exchange: string, routingKey: string, body: Buffer, options: MessageProperties): boolean;
}

/** Message properties for Transport.publish, and whether the publish is mandatory. */
export interface PublishOptions extends MessageProperties {
  /** Fail the publish with `UnroutableError` when no queue is bound for the routing key (needs `confirm`). */
  mandatory?: boolean;
  /**
   * Wait for the broker's confirm (default true). false resolves once the message is
   * written to the channel: no delivery guarantee, and a returned mandatory message is
   * not reported (PUBLISH_CONFIRMS: false).
   */
  confirm?: boolean;
}

/** The broker could not route a mandatory publish to any queue. */
export class UnroutableError extends Error {
  constructor(
    readonly exchange: string,
    readonly routingKey: string,
  ) {
    super(`message to exchange ${exchange} with routing key ${routingKey} was returned: no queue is bound for it`);
    this.name = 'UnroutableError';
  }
}

/** What Transport.consume returns: the means to stop consuming. */
export interface Subscription {
  /** Stop taking new deliveries; messages already delivered may still be acked or nacked. */
  cancel(): Promise<void>;
}

/** Connection state changes a Transport reports (Transport.on). */
export type TransportEvent = 'connected' | 'disconnected';

/** A broker connection: RabbitMQ (amqp://) or the in-process memory:// broker. */
export interface Transport {
  /** The URI with any password masked: safe for logs and errors. */
  readonly displayUri: string;
  /** True while a connection to the broker is up. */
  readonly connected: boolean;
  /**
   * The broker's version from the server properties of the last connection ('3.10.8'):
   * what it supports (a per-queue consumer timeout from 3.12). Undefined before the first
   * connection, when the broker does not say, and on memory://, which has no consumer timeout.
   */
  readonly brokerVersion?: string;
  /**
   * Connect, waiting for a broker that cannot be reached yet (STARTUP_TIMEOUT); rejects with
   * the coded error of the cause (see connect-failure.ts) when waiting cannot help or time is up.
   */
  open(): Promise<void>;
  /**
   * Declare the queue, exchange and bindings, then consume. After a reconnect the
   * transport declares and consumes again by itself; the handler stays the same.
   */
  consume(spec: ConsumeSpec, onMessage: (message: InboundMessage) => void): Promise<Subscription>;
  /** Declare a durable topic exchange (idempotent). */
  assertExchange(name: string): Promise<void>;
  /**
   * Publish and resolve once the broker has confirmed it (unless `options.confirm` is false). Rejects with UnroutableError
   * for a returned mandatory message. While disconnected it waits for the connection
   * until `waitMs` (default: forever), then rejects with ENOKI_ERR_DISCONNECTED.
   */
  publish(exchange: string, routingKey: string, body: Buffer, options: PublishOptions, waitMs?: number): Promise<void>;
  /** Subscribe to connection state changes (for logs and metrics). */
  on(event: TransportEvent, listener: (detail?: Error) => void): void;
  /** Close gracefully. Unacknowledged deliveries return to their queues. */
  close(): Promise<void>;
}
