// memory:// — a broker simulation inside one process, for unit tests and the broker-less
// demo. It keeps AMQP's semantics wherever enoki could notice the difference (topic
// routing, competing consumers, prefetch, requeue-on-close, exclusive and auto-delete
// queues, asynchronous delivery), so code that passes here behaves the same on RabbitMQ.
// Heartbeats and reconnects have no meaning without a socket and are not faked.

import { EventEmitter } from 'node:events';
import { EnokiError, isEnokiError } from '../errors.js';
import {
  UnroutableError,
  type ConsumeSpec,
  type InboundMessage,
  type MessageProperties,
  type PublishOptions,
  type QueueSpec,
  type Subscription,
  type Transport,
  type TransportEvent,
} from './transport.js';

// --- Topic matching -------------------------------------------------------------------

// RabbitMQ splits '' into zero words, and 'a.' into ['a', ''] (empty words are words).
function words(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

/** Compile an AMQP topic binding key: `*` matches exactly one word, `#` zero or more. */
export function compileTopic(pattern: string): (routingKey: string) => boolean {
  const parts = words(pattern);
  return (routingKey) => {
    const key = words(routingKey);
    // reach[j]: the pattern words seen so far can consume exactly key[0..j). A table
    // instead of backtracking keeps patterns with several '#' linear in the key length.
    let reach = key.map(() => false).concat(false);
    reach[0] = true;
    for (const part of parts) {
      const next = reach.map(() => false);
      for (let j = 0; j <= key.length; j++) {
        next[j] =
          part === '#'
            ? reach[j] || (j > 0 && next[j - 1])
            : j > 0 && reach[j - 1] && (part === '*' || part === key[j - 1]);
      }
      reach = next;
    }
    return reach[key.length];
  };
}

const compiled = new Map<string, (routingKey: string) => boolean>();

export function topicMatches(pattern: string, routingKey: string): boolean {
  let match = compiled.get(pattern);
  if (match === undefined) compiled.set(pattern, (match = compileTopic(pattern)));
  return match(routingKey);
}

// --- Broker ---------------------------------------------------------------------------

interface StoredMessage {
  body: Buffer;
  properties: MessageProperties;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
}

interface Consumer {
  readonly queue: MemoryQueue;
  readonly prefetch: number;
  unacked: number;
  deliver(message: StoredMessage): void;
}

interface Binding {
  readonly queue: MemoryQueue;
  readonly key: string;
}

function copyMessage(body: Buffer, properties: MessageProperties): Pick<StoredMessage, 'body' | 'properties'> {
  const copy = properties.headers === undefined ? { ...properties } : { ...properties, headers: structuredClone(properties.headers) };
  return { body: Buffer.from(body), properties: copy };
}

class MemoryQueue {
  readonly messages: StoredMessage[] = [];
  consumers: Consumer[] = [];
  deleted = false;
  scheduled = false;
  private cursor = 0;

  // `owner` is set for exclusive queues only. `durable` needs no special handling: this
  // broker lives as long as the process, so every queue already outlives its transport.
  constructor(
    readonly spec: QueueSpec,
    readonly owner: MemoryTransport | undefined,
  ) {}

  /** Round-robin over consumers, skipping those whose prefetch window is full. */
  nextFreeConsumer(): Consumer | undefined {
    for (let i = 0; i < this.consumers.length; i++) {
      const index = (this.cursor + i) % this.consumers.length;
      const consumer = this.consumers[index]!;
      if (consumer.prefetch === 0 || consumer.unacked < consumer.prefetch) {
        this.cursor = index + 1;
        return consumer;
      }
    }
    return undefined;
  }
}

// Bounds the deliveries made in one turn of the event loop, so a handler that nacks with
// requeue (immediately redelivered, as on RabbitMQ) cannot starve everything else.
const DISPATCH_BATCH = 64;

class MemoryBroker {
  // Only topic exchanges exist in enoki, so an exchange is just its bindings.
  readonly exchanges = new Map<string, Binding[]>();
  readonly queues = new Map<string, MemoryQueue>();

  declareExchange(name: string): void {
    if (!this.exchanges.has(name)) this.exchanges.set(name, []);
  }

  /** Throws the messages RabbitMQ would send as 405 RESOURCE_LOCKED or 406 PRECONDITION_FAILED. */
  declareQueue(spec: QueueSpec, transport: MemoryTransport): MemoryQueue {
    const existing = this.queues.get(spec.name);
    if (existing === undefined) {
      // 'x-expires' and other x-arguments are ignored: an idle queue simply stays.
      const queue = new MemoryQueue(spec, spec.exclusive ? transport : undefined);
      this.queues.set(spec.name, queue);
      return queue;
    }
    if (existing.owner !== undefined && existing.owner !== transport) {
      throw new Error(`RESOURCE_LOCKED - queue '${spec.name}' is exclusive to another connection`);
    }
    for (const flag of ['durable', 'autoDelete', 'exclusive'] as const) {
      if (existing.spec[flag] !== spec[flag]) {
        throw new Error(`PRECONDITION_FAILED - inequivalent arg '${flag}' for queue '${spec.name}'`);
      }
    }
    return existing;
  }

  bind(exchange: string, queue: MemoryQueue, key: string): void {
    const bindings = this.exchanges.get(exchange)!;
    if (!bindings.some((b) => b.queue === queue && b.key === key)) bindings.push({ queue, key });
  }

  deleteQueue(queue: MemoryQueue): void {
    if (queue.deleted) return;
    queue.deleted = true;
    queue.messages.length = 0;
    queue.consumers = [];
    this.queues.delete(queue.spec.name);
    for (const [name, bindings] of this.exchanges) {
      this.exchanges.set(name, bindings.filter((b) => b.queue !== queue));
    }
  }

  /** Returns the number of queues the message reached; throws if the exchange is missing. */
  publish(exchange: string, routingKey: string, body: Buffer, properties: MessageProperties): number {
    const targets = new Set<MemoryQueue>();
    if (exchange === '') {
      // The default exchange routes to the queue named by the routing key, as in AMQP.
      const queue = this.queues.get(routingKey);
      if (queue !== undefined) targets.add(queue);
    } else {
      const bindings = this.exchanges.get(exchange);
      if (bindings === undefined) throw new Error(`NOT_FOUND - no exchange '${exchange}'`);
      for (const b of bindings) if (topicMatches(b.key, routingKey)) targets.add(b.queue);
    }
    for (const queue of targets) {
      // Each queue gets its own copy, so a consumer changing its message changes no other.
      queue.messages.push({ ...copyMessage(body, properties), exchange, routingKey, redelivered: false });
      this.schedule(queue);
    }
    return targets.size;
  }

  requeue(queue: MemoryQueue, message: StoredMessage): void {
    if (queue.deleted) return;
    queue.messages.unshift({ ...message, redelivered: true });
    this.schedule(queue);
  }

  // Never deliver inside the caller's stack: a publisher must not re-enter its own handler.
  schedule(queue: MemoryQueue): void {
    if (queue.scheduled || queue.deleted) return;
    queue.scheduled = true;
    setImmediate(() => {
      queue.scheduled = false;
      for (let n = 0; n < DISPATCH_BATCH && queue.messages.length > 0; n++) {
        const consumer = queue.nextFreeConsumer();
        if (consumer === undefined) return;
        consumer.deliver(queue.messages.shift()!);
      }
      if (queue.messages.length > 0) this.schedule(queue);
    });
  }
}

const brokers = new Map<string, MemoryBroker>();

/** Forget one vhost's broker (or all of them). Transports created afterwards start empty. */
export function resetMemoryBroker(vhost?: string): void {
  if (vhost === undefined) brokers.clear();
  else brokers.delete(vhost);
}

// --- Transport ------------------------------------------------------------------------

interface Delivery {
  readonly consumer: Consumer;
  readonly message: StoredMessage;
  settled: boolean;
}

const SCHEME = 'memory://';

export class MemoryTransport implements Transport {
  readonly displayUri: string;
  private readonly broker: MemoryBroker;
  private state: 'new' | 'open' | 'closed' = 'new';
  private readonly events = new EventEmitter();
  private readonly consumers = new Set<Consumer>();
  // Insertion order is delivery order, which close() relies on to requeue in order.
  private readonly unacked = new Set<Delivery>();
  private readonly waiters = new Set<(err?: Error) => void>();

  constructor(uri: string) {
    if (!uri.startsWith(SCHEME)) throw new EnokiError('ENOKI_ERR_CONNECT', [uri, `not a ${SCHEME} URI`]);
    this.displayUri = uri;
    const vhost = uri.slice(SCHEME.length);
    let broker = brokers.get(vhost);
    if (broker === undefined) brokers.set(vhost, (broker = new MemoryBroker()));
    this.broker = broker;
  }

  get connected(): boolean {
    return this.state === 'open';
  }

  async open(): Promise<void> {
    if (this.state === 'closed') throw this.closedError();
    if (this.state === 'open') return;
    this.state = 'open';
    for (const wake of this.waiters) wake();
    this.events.emit('connected');
  }

  on(event: TransportEvent, listener: (detail?: Error) => void): void {
    this.events.on(event, listener);
  }

  async assertExchange(name: string): Promise<void> {
    await this.ready();
    this.broker.declareExchange(name);
  }

  async consume(spec: ConsumeSpec, onMessage: (message: InboundMessage) => void): Promise<Subscription> {
    await this.ready();
    const { broker } = this;
    let queue: MemoryQueue;
    try {
      queue = broker.declareQueue(spec.queue, this);
    } catch (reason) {
      throw new EnokiError('ENOKI_ERR_CONNECT', [this.displayUri, (reason as Error).message], { cause: reason });
    }
    // Every queue is reachable through the default exchange '' by its name; nothing to bind.
    if (spec.exchange !== '') {
      broker.declareExchange(spec.exchange);
      for (const key of spec.bindings) broker.bind(spec.exchange, queue, key);
    }
    const consumer: Consumer = {
      queue,
      prefetch: spec.prefetch,
      unacked: 0,
      deliver: (message) => this.deliver(consumer, message, onMessage),
    };
    this.consumers.add(consumer);
    queue.consumers.push(consumer);
    broker.schedule(queue);
    return { cancel: async () => this.cancel(consumer) };
  }

  async publish(exchange: string, routingKey: string, body: Buffer, options: PublishOptions, waitMs?: number): Promise<void> {
    const { mandatory, confirm = true, ...properties } = options;
    let routed: number;
    try {
      // Copy before the first await: the caller may reuse its buffer as soon as we return.
      const snapshot = copyMessage(body, properties);
      await this.ready(waitMs);
      routed = this.broker.publish(exchange, routingKey, snapshot.body, snapshot.properties);
    } catch (reason) {
      if (isEnokiError(reason)) throw reason;
      throw new EnokiError('ENOKI_ERR_PUBLISH', [exchange, (reason as Error).message], { cause: reason });
    }
    // Unconfirmed, a returned message is not reported (as on RabbitMQ).
    if (routed === 0 && mandatory === true && confirm) throw new UnroutableError(exchange, routingKey);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    // Unshift in reverse delivery order so the requeued messages keep their order at the
    // head. Dispatch waits for the next turn, by when our consumers below are gone.
    for (const delivery of [...this.unacked].reverse()) {
      delivery.settled = true;
      this.broker.requeue(delivery.consumer.queue, delivery.message);
    }
    this.unacked.clear();
    for (const consumer of this.consumers) this.cancel(consumer);
    for (const queue of this.broker.queues.values()) {
      if (queue.owner === this) this.broker.deleteQueue(queue);
    }
    for (const wake of this.waiters) wake(this.closedError());
    this.events.emit('disconnected');
  }

  // Like basic.cancel: deliveries stop, but what was already delivered stays unacked on
  // this transport (still ackable) until acked, nacked or the transport closes.
  private cancel(consumer: Consumer): void {
    if (!this.consumers.delete(consumer)) return;
    const { queue } = consumer;
    queue.consumers = queue.consumers.filter((c) => c !== consumer);
    if (queue.spec.autoDelete && queue.consumers.length === 0) this.broker.deleteQueue(queue);
  }

  private deliver(consumer: Consumer, message: StoredMessage, onMessage: (message: InboundMessage) => void): void {
    const delivery: Delivery = { consumer, message, settled: false };
    consumer.unacked++;
    this.unacked.add(delivery);
    // After close() or a requeue this delivery is settled, and a late ack or nack does nothing.
    const settle = (requeue: boolean | undefined): void => {
      if (delivery.settled) return;
      delivery.settled = true;
      consumer.unacked--;
      this.unacked.delete(delivery);
      if (requeue === true) this.broker.requeue(consumer.queue, message);
      else this.broker.schedule(consumer.queue);
    };
    const inbound: InboundMessage = {
      body: message.body,
      properties: message.properties,
      exchange: message.exchange,
      routingKey: message.routingKey,
      redelivered: message.redelivered,
      ack: () => settle(undefined),
      nack: (requeue) => settle(requeue),
    };
    try {
      onMessage(inbound);
    } catch (err) {
      // A throwing handler is a bug above the transport: surface it as an uncaught error
      // rather than swallow it, without stopping deliveries to the other consumers.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** Resolves once open; while not yet opened, waits up to `waitMs` (default: forever). */
  private async ready(waitMs?: number): Promise<void> {
    if (this.state === 'open') return;
    if (this.state === 'closed') throw this.closedError();
    await new Promise<void>((resolve, reject) => {
      const wake = (err?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        if (err === undefined) resolve();
        else reject(err);
      };
      const notOpened = (): void => wake(new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, `not opened within ${waitMs} ms`]));
      // setTimeout would treat Infinity as 1 ms.
      const timer = waitMs !== undefined && Number.isFinite(waitMs) ? setTimeout(notOpened, waitMs) : undefined;
      this.waiters.add(wake);
    });
  }

  private closedError(): EnokiError {
    return new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, 'the transport is closed']);
  }
}
