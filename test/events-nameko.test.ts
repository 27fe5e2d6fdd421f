// enoki's events are nameko's, byte for byte: held against the captures in
// test/fixtures/nameko-events/ on a real RabbitMQ, in a vhost of this file's own.
// - enoki's dispatchers (from a call, and standalone) publish each captured case with the
//   same exchange, routing key, properties, headers and body;
// - enoki's handlers declare the captured topology (queue names, flags, bindings);
// - the captured nameko messages, replayed into enoki's handlers, give what nameko's
//   handlers received (handled.json), and leave every queue empty.

import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, EventDispatcher, eventDispatcher, eventHandler, loadConfig, rpc, ServiceRunner, type EnokiConfig } from 'enoki';
import { entrypointWaiter } from 'enoki/testing';
import { capturedEvents, handled, topology, type CapturedEvent } from './fixtures/nameko-events.js';
import { bindings, exchanges, queues } from './support/broker-state.js';
import { eventually } from './helpers/eventually.js';
import { createVhost, type TestVhost } from './support/vhost.js';

// --- the Python services of the capture, ported --------------------------------------

class EvtPublisher {
  static name = 'evt_publisher';
  dispatch = new EventDispatcher();

  @rpc
  async publish(eventType: string, payload: unknown): Promise<string> {
    await this.dispatch(eventType, payload);
    return 'published';
  }
}

const received: Array<{ handler: string; payload: unknown }> = [];

class EvtSubscriber {
  static name = 'evt_subscriber';

  @eventHandler('evt_publisher', 'thing_happened')
  on_pool(payload: unknown): void {
    received.push({ handler: 'on_pool', payload });
  }

  @eventHandler('evt_publisher', 'thing_happened', { handlerType: 'singleton' })
  on_singleton(payload: unknown): void {
    received.push({ handler: 'on_singleton', payload });
  }

  @eventHandler('evt_publisher', 'thing_happened', { handlerType: 'broadcast', reliableDelivery: false })
  on_broadcast(payload: unknown): void {
    received.push({ handler: 'on_broadcast', payload });
  }

  @eventHandler('evt_publisher', 'other_thing', { reliableDelivery: false })
  on_other_unreliable(payload: unknown): void {
    received.push({ handler: 'on_other_unreliable', payload });
  }

  @eventHandler('evt_publisher', 'fails')
  on_fails(payload: unknown): void {
    received.push({ handler: 'on_fails', payload });
    throw new Error(`handler failed: ${JSON.stringify(payload)}`);
  }
}

// --- a spy queue on the events exchange, as the capture had ---------------------------

let vhost: TestVhost;
let config: EnokiConfig;
let spyConnection: ChannelModel;
let spy: Channel;
const spied: ConsumeMessage[] = [];

beforeAll(async () => {
  vhost = createVhost('events-nameko');
  config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } });
  spyConnection = await amqp.connect(vhost.uri, { noDelay: true });
  spy = await spyConnection.createChannel();
  await spy.assertExchange('evt_publisher.events', 'topic', { durable: true });
  const { queue } = await spy.assertQueue('', { exclusive: true });
  await spy.bindQueue(queue, 'evt_publisher.events', '#');
  await spy.consume(queue, (msg) => msg && spied.push(msg), { noAck: true });
});

afterAll(async () => {
  await spyConnection?.close().catch(() => undefined);
  vhost?.remove();
});

/** Hold one message the spy saw against one captured message. */
function expectSameEvent(got: ConsumeMessage, want: CapturedEvent): void {
  expect(got.fields.exchange).toBe(want.exchange);
  expect(got.fields.routingKey).toBe(want.routing_key);
  const { contentType, contentEncoding, deliveryMode, priority, headers, ...others } = got.properties;
  expect({ content_type: contentType, content_encoding: contentEncoding, delivery_mode: deliveryMode, priority }).toEqual(want.properties);
  // Nothing else: no correlation id, no reply_to, no message id, timestamp or type.
  expect(Object.entries(others).filter(([, value]) => value !== undefined)).toEqual([]);
  const stack = want.headers['nameko.call_id_stack'] as string[] | undefined;
  if (stack === undefined) {
    expect(headers ?? {}).toEqual(want.headers);
  } else {
    // Call ids are fresh uuids per call: the same keys, a stack of the same shape.
    expect(Object.keys(headers ?? {}).sort()).toEqual(Object.keys(want.headers).sort());
    const got_stack = (headers as Record<string, unknown>)['nameko.call_id_stack'] as string[];
    expect(got_stack.map((id) => id.replace(/[0-9a-f-]{36}$/, '<uuid>'))).toEqual(stack.map((id) => id.replace(/[0-9a-f-]{36}$/, '<uuid>')));
  }
  expect(got.content.toString('utf8')).toBe(want.body);
}

describe('enoki against the nameko event captures', () => {
  let runner: ServiceRunner;

  beforeAll(async () => {
    runner = new ServiceRunner(config);
    runner.add(EvtPublisher);
    runner.add(EvtSubscriber);
    await runner.start();
  });

  afterAll(async () => {
    await runner?.stop();
  });

  it('declares the captured topology: exchanges, queues with their flags and arguments, bindings', () => {
    const uuidHex = /-[0-9a-f]{32}$/;
    const normalise = (name: string): string => name.replace(uuidHex, '-<broadcast_identifier>');
    // Each rabbitmqctl call starts an Erlang VM (seconds on a busy machine): one per list.
    const declared = queues(vhost.name);
    const ours = declared.filter((q) => !q.exclusive || q.name.startsWith('evt-'));
    const relevant = ours.filter((q) => q.name.startsWith('evt-') || q.name.startsWith('rpc-'));
    const shape = (q: { name: string; durable: boolean; auto_delete: boolean; exclusive: boolean; consumers: number; arguments: unknown[] }) => ({
      name: normalise(q.name),
      durable: q.durable,
      auto_delete: q.auto_delete,
      exclusive: q.exclusive,
      consumers: q.consumers,
      arguments: q.arguments,
    });
    expect(relevant.map(shape).sort(byName)).toEqual(topology.queues.map(shape).sort(byName));
    const spyQueues = new Set(declared.filter((q) => q.name.startsWith('amq.gen-')).map((q) => q.name));
    const ourBindings = bindings(vhost.name)
      .filter((b) => !spyQueues.has(b.destination_name) && !b.destination_name.startsWith('rpc.reply-'))
      .map((b) => ({ ...b, destination_name: normalise(b.destination_name) }));
    expect(ourBindings.sort(byBinding)).toEqual(
      topology.bindings.map((b) => ({ ...b, destination_name: normalise(b.destination_name) })).sort(byBinding),
    );
    const ourExchanges = exchanges(vhost.name);
    for (const want of topology.exchanges) {
      expect(ourExchanges).toContainEqual({ name: want.name, type: want.type, durable: want.durable, auto_delete: want.auto_delete, arguments: want.arguments });
    }
  }, 90_000);

  it('dispatches every captured case as nameko did, from a call and standalone', async () => {
    spied.length = 0;
    const subscriber = runner.containers.find((c) => c.serviceName === 'evt_subscriber')!;
    const client = await ClusterRpcProxy.connect(config);
    const dispatch = await eventDispatcher(config);
    try {
      for (const want of capturedEvents) {
        const payload = JSON.parse(want.body) as unknown;
        const before = spied.length;
        if (want.case === 'service-dispatch') {
          expect(await client.evt_publisher.publish(want.routing_key, payload)).toBe('published');
        } else {
          const failed = want.case === 'handler-raises' ? entrypointWaiter(subscriber, 'on_fails') : null;
          await dispatch('evt_publisher', want.routing_key, payload);
          await failed;
        }
        await eventually(() => spied.length > before, `the spy to see ${want.case}`, 5000);
        expectSameEvent(spied[before]!, want);
      }
    } finally {
      await dispatch.close();
      await client.close();
    }
  });

  it('carries the call\'s other nameko.* context headers on an event dispatched inside it', async () => {
    spied.length = 0;
    const client = await ClusterRpcProxy.connect(config);
    try {
      const withContext = client.withContext({ language: 'fr-FR', user_id: 'u-42', trace_tag: 'abc' });
      expect(await withContext.evt_publisher.publish('other_thing', [1, 2, 3])).toBe('published');
      await eventually(() => spied.length > 0, 'the spy to see the event', 5000);
      const headers = spied[0]!.properties.headers as Record<string, unknown>;
      expect(Object.keys(headers).sort()).toEqual(['nameko.call_id_stack', 'nameko.language', 'nameko.trace_tag', 'nameko.user_id']);
      expect({ language: headers['nameko.language'], user_id: headers['nameko.user_id'], trace_tag: headers['nameko.trace_tag'] }).toEqual({ language: 'fr-FR', user_id: 'u-42', trace_tag: 'abc' });
      expect((headers['nameko.call_id_stack'] as string[]).map((id) => id.replace(/[0-9a-f-]{36}$/, '<uuid>'))).toEqual(['standalone_rpc_proxy.call.<uuid>', 'evt_publisher.publish.<uuid>']);
      expect(spied[0]!.content.toString('utf8')).toBe('[1, 2, 3]');
    } finally {
      await client.close();
    }
  });

  it('hands the captured nameko messages to its handlers as nameko handed them (handled.json), leaving no message behind', async () => {
    received.length = 0;
    const subscriber = runner.containers.find((c) => c.serviceName === 'evt_subscriber')!;
    const failed = entrypointWaiter(subscriber, 'on_fails');
    // The message nameko's service dispatched inside a call: the handler's call continues its call id stack.
    const fromCall = capturedEvents.find((m) => m.case === 'service-dispatch')!;
    const continued = entrypointWaiter(subscriber, 'on_pool', { filter: ({ ctx }) => JSON.stringify(ctx.args[0]) === JSON.stringify(JSON.parse(fromCall.body)) });
    const channel = await spyConnection.createConfirmChannel();
    for (const message of capturedEvents) {
      channel.publish(message.exchange, message.routing_key, Buffer.from(message.body, 'utf8'), {
        contentType: message.properties.content_type,
        contentEncoding: message.properties.content_encoding,
        deliveryMode: message.properties.delivery_mode,
        priority: message.properties.priority,
        headers: message.headers,
      });
    }
    await channel.waitForConfirms();
    await channel.close();
    await failed;
    const { ctx } = await continued;
    const nameko_stack = fromCall.headers['nameko.call_id_stack'] as string[];
    expect(ctx.entrypoint).toBe('event');
    expect(ctx.callIdStack.slice(0, nameko_stack.length)).toEqual(nameko_stack);
    expect(ctx.callIdStack).toHaveLength(nameko_stack.length + 1);
    expect(ctx.callIdStack.at(-1)).toMatch(/^evt_subscriber\.on_pool\.[0-9a-f-]{36}$/);
    await eventually(() => received.length >= handled.handled.length, 'every handler to run', 5000);
    const byHandler = (list: Array<{ handler: string; payload: unknown }>) => {
      const out: Record<string, unknown[]> = {};
      for (const { handler, payload } of list) (out[handler] ??= []).push(payload);
      return out;
    };
    expect(byHandler(received)).toEqual(byHandler(handled.handled));
    // The failing handler's event was acknowledged, not requeued: every queue is empty.
    await eventually(() => subscriber.activeWorkers === 0, 'the workers to finish', 5000);
    await new Promise((resolve) => setTimeout(resolve, 200)); // acks travel after the worker ends
    const depths = queues(vhost.name).filter((q) => q.name.startsWith('evt-'));
    expect(depths.length).toBe(topology.queues.filter((q) => q.name.startsWith('evt-')).length);
    for (const queue of depths) expect({ name: queue.name, messages: queue.messages, unacked: queue.messages_unacknowledged }).toEqual({ name: queue.name, messages: 0, unacked: 0 });
    expect(received.filter((r) => r.handler === 'on_fails')).toHaveLength(1);
  });
});

function byName(a: { name: string }, b: { name: string }): number {
  return a.name.localeCompare(b.name);
}

function byBinding(a: { source_name: string; destination_name: string; routing_key: string }, b: { source_name: string; destination_name: string; routing_key: string }): number {
  return `${a.source_name}|${a.destination_name}|${a.routing_key}`.localeCompare(`${b.source_name}|${b.destination_name}|${b.routing_key}`);
}
