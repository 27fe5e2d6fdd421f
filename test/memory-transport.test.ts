import { afterEach, describe, expect, it } from 'vitest';
import { EnokiError, isEnokiError } from '../src/errors.js';
import { MemoryTransport, resetMemoryBroker, topicMatches } from '../src/transport/memory-transport.js';
import { UnroutableError, type ConsumeSpec, type InboundMessage, type QueueSpec } from '../src/transport/transport.js';

const EXCHANGE = 'test-exchange';
const open: MemoryTransport[] = [];

async function connect(uri = 'memory://'): Promise<MemoryTransport> {
  const transport = new MemoryTransport(uri);
  await transport.open();
  open.push(transport);
  return transport;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  resetMemoryBroker();
});

function queue(name: string, flags: Partial<QueueSpec> = {}): QueueSpec {
  return { name, durable: true, autoDelete: false, exclusive: false, ...flags };
}

function spec(q: QueueSpec | string, bindings: string[] = ['#'], prefetch = 0): ConsumeSpec {
  return { queue: typeof q === 'string' ? queue(q) : q, exchange: EXCHANGE, bindings, prefetch };
}

/** Collects deliveries; `take(n)` waits until n have arrived. */
function inbox(): { messages: InboundMessage[]; handler: (m: InboundMessage) => void; take(n: number): Promise<InboundMessage[]> } {
  const messages: InboundMessage[] = [];
  const waiters: Array<() => void> = [];
  return {
    messages,
    handler: (m) => {
      messages.push(m);
      for (const wake of waiters.splice(0)) wake();
    },
    async take(n) {
      const deadline = Date.now() + 2000;
      while (messages.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${messages.length} of ${n} messages arrived`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return messages.slice(0, n);
    },
  };
}

/** Let several turns of the event loop pass, so any scheduled delivery has happened. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

const text = (m: InboundMessage): string => m.body.toString();
const send = (t: MemoryTransport, key: string, body: string, mandatory = false): Promise<void> =>
  t.publish(EXCHANGE, key, Buffer.from(body), { mandatory });

describe('topic matching', () => {
  it.each([
    ['a.b', 'a.b', true],
    ['a.b', 'a.c', false],
    ['a.b', 'a.b.c', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a', false],
    ['a.*', 'a.b.c', false],
    ['a.*', 'a.', true], // the empty word is a word
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['a.#', 'b.a', false],
    ['#', '', true],
    ['#', 'a.b.c', true],
    ['*', '', false], // '' has zero words
    ['*', 'a', true],
    ['*.*', '.', true],
    ['*.b.#', 'a.b', true],
    ['*.b.#', 'a.b.c.d', true],
    ['*.b.#', 'b', false],
    ['*.b.#', 'a.c.b', false],
    ['#.b', 'b', true],
    ['#.b', 'a.a.b', true],
    ['a.#.z', 'a.z', true],
    ['a.#.z', 'a.b.c.z', true],
    ['a.#.#.z', 'a.z', true],
    ['a..b', 'a..b', true],
    ['a..b', 'a.b', false],
    ['', '', true],
    ['', 'a', false],
    ['greeting_service.*', 'greeting_service.hello', true],
  ])('%j matches %j: %s', (pattern, key, expected) => {
    expect(topicMatches(pattern, key)).toBe(expected);
    expect(topicMatches(pattern, key)).toBe(expected); // second call uses the cached pattern
  });
});

describe('MemoryTransport', () => {
  it('delivers asynchronously, never inside publish', async () => {
    const t = await connect();
    const box = inbox();
    await t.consume(spec('q'), box.handler);
    const publishing = send(t, 'k', 'x');
    expect(box.messages).toHaveLength(0);
    await publishing;
    expect(box.messages).toHaveLength(0);
    expect(text((await box.take(1))[0]!)).toBe('x');
  });

  it('spreads messages round-robin over competing consumers', async () => {
    const [a, b] = [await connect(), await connect()];
    const [boxA, boxB] = [inbox(), inbox()];
    await a.consume(spec('work'), boxA.handler);
    await b.consume(spec('work'), boxB.handler);
    for (let i = 0; i < 10; i++) await send(a, 'job', String(i));
    await settle();
    expect(boxA.messages.map(text)).toEqual(['0', '2', '4', '6', '8']);
    expect(boxB.messages.map(text)).toEqual(['1', '3', '5', '7', '9']);
  });

  it('with prefetch 1 holds the second message until the first is acked', async () => {
    const t = await connect();
    const box = inbox();
    await t.consume(spec('q', ['#'], 1), box.handler);
    await send(t, 'k', 'first');
    await send(t, 'k', 'second');
    await settle();
    expect(box.messages.map(text)).toEqual(['first']);
    box.messages[0]!.ack();
    expect((await box.take(2)).map(text)).toEqual(['first', 'second']);
  });

  it('gives a busy consumer nothing while another has free prefetch capacity', async () => {
    const [a, b] = [await connect(), await connect()];
    const [boxA, boxB] = [inbox(), inbox()];
    await a.consume(spec('q', ['#'], 1), boxA.handler);
    await send(a, 'k', '1');
    await boxA.take(1);
    await b.consume(spec('q', ['#'], 0), boxB.handler);
    for (const body of ['2', '3', '4']) await send(a, 'k', body);
    await settle();
    expect(boxA.messages.map(text)).toEqual(['1']);
    expect(boxB.messages.map(text)).toEqual(['2', '3', '4']);
  });

  it('redelivers a message nacked with requeue, marked redelivered, ahead of later ones', async () => {
    const t = await connect();
    const box = inbox();
    await t.consume(spec('q', ['#'], 1), box.handler);
    await send(t, 'k', 'one');
    await send(t, 'k', 'two');
    const [first] = await box.take(1);
    expect(first!.redelivered).toBe(false);
    first!.nack(true);
    const [, again] = await box.take(2);
    expect(text(again!)).toBe('one');
    expect(again!.redelivered).toBe(true);
  });

  it('keeps the event loop turning while a handler nacks with requeue forever', async () => {
    const t = await connect();
    let deliveries = 0;
    await t.consume(spec('q'), (m) => {
      deliveries++;
      m.nack(true);
    });
    await send(t, 'k', 'poison');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(deliveries).toBeGreaterThan(1);
  });

  it('drops a message nacked without requeue', async () => {
    const t = await connect();
    const box = inbox();
    await t.consume(spec('q'), box.handler);
    await send(t, 'k', 'bad');
    (await box.take(1))[0]!.nack(false);
    await settle();
    expect(box.messages).toHaveLength(1);
  });

  it('on close requeues unacked deliveries to another consumer, and ignores late acks', async () => {
    const [a, b] = [await connect(), await connect()];
    const [boxA, boxB] = [inbox(), inbox()];
    await a.consume(spec('q'), boxA.handler);
    await send(a, 'k', 'one');
    await send(a, 'k', 'two');
    const delivered = await boxA.take(2);
    await b.consume(spec('q'), boxB.handler);
    await a.close();
    const redelivered = await boxB.take(2);
    expect(redelivered.map(text)).toEqual(['one', 'two']);
    expect(redelivered.every((m) => m.redelivered)).toBe(true);
    delivered[0]!.ack(); // after close: a no-op, must not remove B's copy
    delivered[0]!.ack();
    redelivered[0]!.nack(true);
    expect(text((await boxB.take(3))[2]!)).toBe('one');
  });

  it('keeps deliveries ackable after a subscription is cancelled, and requeues them at close', async () => {
    const a = await connect();
    const box = inbox();
    const sub = await a.consume(spec('q'), box.handler);
    await send(a, 'k', 'one');
    await send(a, 'k', 'two');
    const [one] = await box.take(2);
    await sub.cancel();
    one!.ack();
    await send(a, 'k', 'three');
    await settle();
    expect(box.messages).toHaveLength(2);
    await a.close();
    const b = await connect();
    const boxB = inbox();
    await b.consume(spec('q'), boxB.handler);
    expect((await boxB.take(2)).map((m) => [text(m), m.redelivered])).toEqual([
      ['two', true],
      ['three', false],
    ]);
  });

  it('rejects a mandatory publish that no queue is bound for with UnroutableError', async () => {
    const t = await connect();
    await t.consume(spec('q', ['orders.*']), () => undefined);
    const err = await send(t, 'invoices.new', 'x', true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnroutableError);
    expect(err).toMatchObject({ exchange: EXCHANGE, routingKey: 'invoices.new' });
    await expect(send(t, 'invoices.new', 'x', false)).resolves.toBeUndefined();
    await expect(send(t, 'orders.new', 'x', true)).resolves.toBeUndefined();
  });

  it('rejects publishing to an exchange that was never declared, like a 404 from RabbitMQ', async () => {
    const t = await connect();
    const err = await t.publish('nowhere', 'k', Buffer.from('x'), {}).catch((e: unknown) => e);
    expect(isEnokiError(err, 'ENOKI_ERR_PUBLISH')).toBe(true);
    expect((err as EnokiError).message).toContain('nowhere');
    await t.assertExchange('nowhere');
    await expect(t.publish('nowhere', 'k', Buffer.from('x'), {})).resolves.toBeUndefined();
  });

  it('routes the default exchange to the queue named by the routing key', async () => {
    const t = await connect();
    const box = inbox();
    await t.consume(spec('direct-q', []), box.handler);
    await t.publish('', 'direct-q', Buffer.from('hi'), { mandatory: true });
    expect(text((await box.take(1))[0]!)).toBe('hi');
  });

  it('fans out to every matching queue, once per queue even if several bindings match', async () => {
    const t = await connect();
    const [one, two] = [inbox(), inbox()];
    await t.consume(spec('q1', ['a.*', 'a.b', '#']), one.handler);
    await t.consume(spec('q2', ['*.b']), two.handler);
    await send(t, 'a.b', 'hello');
    await settle();
    expect(one.messages.map(text)).toEqual(['hello']);
    expect(two.messages.map(text)).toEqual(['hello']);
    await send(t, 'a.c', 'only-q1');
    await settle();
    expect(one.messages.map(text)).toEqual(['hello', 'only-q1']);
    expect(two.messages).toHaveLength(1);
  });

  it('lets only the declaring transport use an exclusive queue, and deletes it when that one closes', async () => {
    const [owner, other] = [await connect(), await connect()];
    const exclusive = queue('private', { exclusive: true, durable: false });
    await owner.consume(spec(exclusive), () => undefined);
    await owner.consume(spec(exclusive), () => undefined);
    const err = await other.consume(spec(exclusive), () => undefined).catch((e: unknown) => e);
    expect(isEnokiError(err, 'ENOKI_ERR_CONNECT')).toBe(true);
    expect((err as Error).message).toMatch(/RESOURCE_LOCKED/);
    await expect(other.consume(spec('private'), () => undefined)).rejects.toThrow(/RESOURCE_LOCKED/);
    await expect(send(other, 'k', 'to-owner', true)).resolves.toBeUndefined();

    await owner.close();
    await expect(send(other, 'k', 'x', true)).rejects.toBeInstanceOf(UnroutableError);
    const box = inbox();
    await other.consume(spec(exclusive), box.handler); // declared afresh, now other's own
    await settle();
    expect(box.messages).toHaveLength(0);
  });

  it('refuses to redeclare a queue with different flags, like a 406 from RabbitMQ', async () => {
    const t = await connect();
    await t.consume(spec(queue('q', { durable: true })), () => undefined);
    await expect(t.consume(spec(queue('q', { durable: false })), () => undefined)).rejects.toThrow(/PRECONDITION_FAILED/);
  });

  it('deletes an autoDelete queue when its last consumer cancels, not before', async () => {
    const [a, b] = [await connect(), await connect()];
    const q = queue('temp', { autoDelete: true, durable: false });
    await a.assertExchange(EXCHANGE);
    const first = await a.consume(spec(q, ['temp.*']), () => undefined);
    const second = await b.consume(spec(q, ['temp.*']), () => undefined);
    await first.cancel();
    await expect(send(a, 'temp.x', 'x', true)).resolves.toBeUndefined();
    await second.cancel();
    await expect(send(a, 'temp.x', 'x', true)).rejects.toBeInstanceOf(UnroutableError);
  });

  it('deletes an autoDelete queue when the transport of its last consumer closes', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.consume(spec(queue('temp', { autoDelete: true }), ['temp']), () => undefined);
    await a.close();
    await expect(send(b, 'temp', 'x', true)).rejects.toBeInstanceOf(UnroutableError);
  });

  it('keeps a durable queue and its messages after its transport closes', async () => {
    const a = await connect();
    const sub = await a.consume(spec('durable-q', ['svc.*'], 1), () => undefined);
    await sub.cancel();
    await send(a, 'svc.call', 'kept');
    await a.close();
    const b = await connect();
    const box = inbox();
    await b.consume(spec('durable-q', ['svc.*']), box.handler);
    expect(text((await box.take(1))[0]!)).toBe('kept');
  });

  it('copies the body and headers on publish, so a sender changing them changes nothing', async () => {
    const t = await connect();
    const box = inbox();
    await t.consume(spec('q'), box.handler);
    const body = Buffer.from('original');
    const headers = { nested: { value: 1 } };
    const publishing = t.publish(EXCHANGE, 'k', body, { headers, correlationId: 'c1' });
    body.write('mutated!');
    headers.nested.value = 2;
    await publishing;
    const [m] = await box.take(1);
    expect(text(m!)).toBe('original');
    expect(m!.properties).toMatchObject({ correlationId: 'c1', headers: { nested: { value: 1 } } });
  });

  it('rejects a publish whose headers cannot be cloned, delivering nothing', async () => {
    const t = await connect();
    const box = inbox();
    await t.consume(spec('q'), box.handler);
    const publishing = t.publish(EXCHANGE, 'k', Buffer.from('x'), { headers: { fn: () => 1 } });
    await expect(publishing).rejects.toSatisfy((e) => isEnokiError(e, 'ENOKI_ERR_PUBLISH'));
    await settle();
    expect(box.messages).toHaveLength(0);
  });

  it('rejects publish and consume after close with ENOKI_ERR_DISCONNECTED', async () => {
    const t = await connect();
    await t.assertExchange(EXCHANGE);
    await t.close();
    await t.close(); // idempotent
    for (const attempt of [send(t, 'k', 'x'), t.consume(spec('q'), () => undefined)]) {
      const err = await attempt.catch((e: unknown) => e);
      expect(isEnokiError(err, 'ENOKI_ERR_DISCONNECTED')).toBe(true);
      expect((err as Error).message).toBe('the connection to memory:// is down; the transport is closed');
    }
  });

  it('reports connected between open and close, with events', async () => {
    const t = new MemoryTransport('memory://events');
    const seen: string[] = [];
    t.on('connected', () => seen.push('connected'));
    t.on('disconnected', () => seen.push('disconnected'));
    expect(t.connected).toBe(false);
    await t.open();
    expect(t.connected).toBe(true);
    await t.close();
    expect(t.connected).toBe(false);
    expect(seen).toEqual(['connected', 'disconnected']);
  });

  it('holds a publish made before open until open, or until waitMs runs out', async () => {
    const t = new MemoryTransport('memory://');
    open.push(t);
    const timedOut = t.publish(EXCHANGE, 'k', Buffer.from('x'), {}, 20).catch((e: unknown) => e);
    expect(isEnokiError(await timedOut, 'ENOKI_ERR_DISCONNECTED')).toBe(true);
    const waiting = t.assertExchange(EXCHANGE);
    await t.open();
    await expect(waiting).resolves.toBeUndefined();
  });

  it('isolates vhosts from each other', async () => {
    const [a, b] = [await connect('memory://a'), await connect('memory://b')];
    const a2 = await connect('memory://a');
    await a.consume(spec('q', ['k']), () => undefined);
    await expect(send(a2, 'k', 'x', true)).resolves.toBeUndefined();
    await expect(send(b, 'k', 'x', true)).rejects.toSatisfy((e) => isEnokiError(e, 'ENOKI_ERR_PUBLISH'));
    await b.assertExchange(EXCHANGE);
    await expect(send(b, 'k', 'x', true)).rejects.toBeInstanceOf(UnroutableError);
  });

  it('rejects a URI that is not memory://', () => {
    expect(() => new MemoryTransport('amqp://localhost')).toThrow(EnokiError);
  });
});
