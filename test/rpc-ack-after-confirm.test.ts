// With the default settings (PUBLISH_CONFIRMS true) a request is acknowledged only after
// the broker confirmed its reply: otherwise a broker failure between the two loses the call
// (the request is gone, the reply never stored). Observed on the real transport, on a real
// broker (a vhost of this file's own): amqplib's ConfirmChannel.publish callback (the
// confirm) and Channel.ack / ackAll (single or `allUpTo` acks, however the consumer batches
// them) are wrapped to record, per correlation id, when the reply was confirmed and when
// its request was acked.

import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel, ConsumeMessage } from 'amqplib';
import { ClusterRpcProxy, loadConfig, rpc, ServiceRunner } from 'enoki';
import { createVhost, type TestVhost } from './support/vhost.js';

type Event = { kind: 'reply confirmed' | 'ack'; correlationId: string };

/** The calls whose request was acked before (or without) its reply's confirm. */
export function acksBeforeConfirm(events: readonly Event[]): string[] {
  const confirmed = new Set<string>();
  const bad: string[] = [];
  for (const event of events) {
    if (event.kind === 'reply confirmed') confirmed.add(event.correlationId);
    else if (!confirmed.has(event.correlationId)) bad.push(event.correlationId);
  }
  return bad;
}

/**
 * amqplib's Channel and ConfirmChannel prototypes (its package exports do not name the
 * module that defines them), read off a confirm channel. amqplib is CommonJS: the
 * transport uses the same module instance, so the same prototypes.
 */
async function channelPrototypes(uri: string): Promise<{ confirm: Channel; plain: Channel }> {
  const connection = await amqp.connect(uri);
  try {
    const confirm = Object.getPrototypeOf(await connection.createConfirmChannel()) as Channel;
    return { confirm, plain: Object.getPrototypeOf(confirm) as Channel };
  } finally {
    await connection.close();
  }
}

const events: Event[] = [];
/** Per channel: deliveries not acked yet, by delivery tag (what an `allUpTo` ack covers). */
const delivered = new WeakMap<Channel, Map<number, string>>();
const restore: Array<() => void> = [];

function wrap<K extends 'publish' | 'consume' | 'ack' | 'ackAll'>(proto: Channel, name: K, make: (original: Channel[K]) => Channel[K]): void {
  const original = Object.getOwnPropertyDescriptor(proto, name)?.value as Channel[K];
  const own = Object.hasOwn(proto, name);
  (proto as unknown as Record<string, unknown>)[name] = make((proto as unknown as Record<string, Channel[K]>)[name]!);
  restore.push(() => {
    if (own) (proto as unknown as Record<string, unknown>)[name] = original;
    else delete (proto as unknown as Record<string, unknown>)[name];
  });
}

function recordAcks(channel: Channel, upTo: number, allUpTo: boolean): void {
  const pending = delivered.get(channel);
  if (!pending) return;
  for (const [tag, correlationId] of pending) {
    if (tag === upTo || (allUpTo && tag <= upTo)) {
      events.push({ kind: 'ack', correlationId });
      pending.delete(tag);
    }
  }
}

class ObservedService {
  static name = 'observed_service';
  @rpc async hello(name: string) {
    // Some calls finish out of order, so acks and confirms interleave.
    if (name.endsWith('7')) await new Promise((r) => setTimeout(r, 5));
    return `Hello, ${name}!`;
  }
}

let vhost: TestVhost;
let runner: ServiceRunner;

beforeAll(async () => {
  vhost = createVhost('ack-after-confirm');
  const prototypes = await channelPrototypes(vhost.uri);
  wrap(prototypes.confirm, 'publish', (original) =>
    function (this: Channel, exchange: string, routingKey: string, content: Buffer, options: { correlationId?: string; replyTo?: string } | undefined, cb?: (err: unknown) => void) {
      // A reply: no reply_to. Requests (the client's, in this process too) are not recorded.
      const correlationId = options?.replyTo === undefined ? options?.correlationId : undefined;
      const observed = (err: unknown): void => {
        if (!err && correlationId !== undefined) events.push({ kind: 'reply confirmed', correlationId });
        cb?.(err);
      };
      return (original as unknown as (...args: unknown[]) => boolean).call(this, exchange, routingKey, content, options, observed);
    } as never,
  );
  wrap(prototypes.plain, 'consume', (original) =>
    function (this: Channel, queue: string, callback: (msg: ConsumeMessage | null) => void, options?: unknown) {
      const seen = (msg: ConsumeMessage | null): void => {
        if (msg && msg.properties.replyTo) {
          if (!delivered.has(this)) delivered.set(this, new Map());
          delivered.get(this)!.set(msg.fields.deliveryTag, String(msg.properties.correlationId));
        }
        callback(msg);
      };
      return (original as unknown as (...args: unknown[]) => unknown).call(this, queue, seen, options);
    } as never,
  );
  wrap(prototypes.plain, 'ack', (original) =>
    function (this: Channel, message: ConsumeMessage, allUpTo?: boolean) {
      recordAcks(this, message.fields.deliveryTag, Boolean(allUpTo));
      return (original as unknown as (...args: unknown[]) => void).call(this, message, allUpTo);
    } as never,
  );
  wrap(prototypes.plain, 'ackAll', (original) =>
    function (this: Channel) {
      recordAcks(this, Number.MAX_SAFE_INTEGER, true);
      return (original as unknown as (...args: unknown[]) => void).call(this);
    } as never,
  );
  runner = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, max_workers: 32, LOGGING: { level: 'silent' } }));
  runner.add(ObservedService);
  await runner.start();
});

afterAll(async () => {
  await runner?.stop();
  for (const undo of restore.reverse()) undo();
  vhost?.remove();
});

describe('default settings: a request is acked only after its reply is confirmed', () => {
  it('the check itself fails an ack that overtakes its confirm', () => {
    expect(acksBeforeConfirm([{ kind: 'ack', correlationId: 'a' }, { kind: 'reply confirmed', correlationId: 'a' }])).toEqual(['a']);
    expect(acksBeforeConfirm([{ kind: 'reply confirmed', correlationId: 'a' }, { kind: 'ack', correlationId: 'a' }])).toEqual([]);
  });

  it('over many concurrent calls, every ack comes after its reply\'s confirm', async () => {
    await using client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }));
    const calls = 1000;
    const results = await Promise.all(Array.from({ length: calls }, (_, i) => client.observed_service.hello(String(i))));
    expect(results).toHaveLength(calls);
    // The last acks may follow the last replies by a moment (batched acks).
    for (let i = 0; i < 200 && events.filter((e) => e.kind === 'ack').length < calls; i++) await new Promise((r) => setTimeout(r, 10));
    expect(acksBeforeConfirm(events)).toEqual([]);
    expect(events.filter((e) => e.kind === 'ack')).toHaveLength(calls);
    expect(events.filter((e) => e.kind === 'reply confirmed')).toHaveLength(calls);
  });
});
