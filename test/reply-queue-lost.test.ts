// A client's reply queue lost with its RabbitMQ node: the broker refuses to declare it again
// (404 "home node ... of durable queue ... is down or inaccessible"). The calls whose request
// named it fail at once with ENOKI_ERR_REPLY_QUEUE_LOST instead of waiting for their timeout,
// and later calls reply on a new queue. On a fake transport that plays the broker's part;
// the same on a real cluster is test/faults/cluster-node-loss.test.ts.

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { isEnokiError } from '../src/errors.js';
import { ReplyListener } from '../src/rpc/reply-listener.js';
import type { ConsumeSpec, InboundMessage, PublishOptions, Subscription, Transport } from '../src/transport/transport.js';

interface Consumer {
  spec: ConsumeSpec;
  onMessage: (message: InboundMessage) => void;
  cancelled: boolean;
}

class FakeBroker implements Transport {
  readonly displayUri = 'amqp://fake/';
  readonly connected = true;
  readonly consumers: Consumer[] = [];
  readonly published: Array<{ routingKey: string; options: PublishOptions }> = [];
  async open(): Promise<void> {}
  async consume(spec: ConsumeSpec, onMessage: (message: InboundMessage) => void): Promise<Subscription> {
    const consumer: Consumer = { spec, onMessage, cancelled: false };
    this.consumers.push(consumer);
    return {
      cancel: async () => {
        consumer.cancelled = true;
      },
    };
  }
  async assertExchange(): Promise<void> {}
  async publish(_exchange: string, routingKey: string, _body: Buffer, options: PublishOptions): Promise<void> {
    this.published.push({ routingKey, options });
  }
  on(): void {}
  async close(): Promise<void> {}

  /** The broker answers `correlationId` on the queue bound to `replyTo`, if one consumes it. */
  reply(replyTo: string, correlationId: string, result: unknown): boolean {
    const consumer = this.consumers.find((c) => !c.cancelled && c.spec.bindings.includes(replyTo));
    if (!consumer) return false;
    consumer.onMessage({
      body: Buffer.from(JSON.stringify({ result, error: null })),
      properties: { correlationId, contentType: 'application/json' },
      exchange: 'nameko-rpc',
      routingKey: replyTo,
      redelivered: false,
      ack: () => undefined,
      nack: () => undefined,
    } as unknown as InboundMessage);
    return true;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a reply queue lost with its node', () => {
  it('fails the calls waiting on it at once, and later calls are answered on a new queue', async () => {
    const broker = new FakeBroker();
    const listener = new ReplyListener(broker, 'nameko-rpc', 'caller', pino({ level: 'silent' }));
    const oldKey = listener.routingKey;
    const waiting = [listener.call('svc', 'work', [1], { timeoutMs: 60_000 }), listener.call('svc', 'work', [2], { timeoutMs: 60_000 })];
    const settled = waiting.map((call) => call.then(() => 'answered', (err: unknown) => err));
    for (let i = 0; i < 5; i++) await tick();
    expect(broker.published.map((p) => p.options.replyTo)).toEqual([oldKey, oldKey]);

    // The transport re-declares the queue on the node it reconnected to; the broker refuses.
    const started = Date.now();
    broker.consumers[0]!.spec.onChannelError!(
      new Error(`Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - home node 'enoki-1@localhost' of durable queue '${listener.queueName}' in vhost '/' is down or inaccessible"`),
    );
    const errors = await Promise.all(settled);
    expect(Date.now() - started).toBeLessThan(1_000);
    for (const err of errors) {
      expect(isEnokiError(err, 'ENOKI_ERR_REPLY_QUEUE_LOST')).toBe(true);
      expect((err as Error).message).toContain("broker node enoki-1@localhost");
      expect((err as Error).message).toContain('call svc.work');
    }
    expect(listener.inFlight).toBe(0);
    // The old subscription is cancelled (no more re-declaring); a new queue is consumed.
    expect(broker.consumers[0]!.cancelled).toBe(true);
    expect(listener.routingKey).not.toBe(oldKey);
    expect(listener.queueName).toBe(`rpc.reply-caller-${listener.routingKey}`);

    const next = listener.call('svc', 'work', [3], { timeoutMs: 60_000 });
    for (let i = 0; i < 5; i++) await tick();
    const request = broker.published.at(-1)!;
    expect(request.options.replyTo).toBe(listener.routingKey);
    expect(broker.reply(request.options.replyTo!, request.options.correlationId!, 'three')).toBe(true);
    expect(await next).toBe('three');
    await listener.close();
  });

  it('any other channel error of the reply queue leaves the calls waiting', async () => {
    const broker = new FakeBroker();
    const listener = new ReplyListener(broker, 'nameko-rpc', 'caller', pino({ level: 'silent' }));
    const call = listener.call('svc', 'work', [1], { timeoutMs: 60_000 });
    for (let i = 0; i < 5; i++) await tick();
    broker.consumers[0]!.spec.onChannelError!(new Error('Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - unknown delivery tag 1"'));
    expect(listener.inFlight).toBe(1);
    const request = broker.published[0]!;
    expect(broker.reply(request.options.replyTo!, request.options.correlationId!, 'one')).toBe(true);
    expect(await call).toBe('one');
    await listener.close();
  });
});
