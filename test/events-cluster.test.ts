// Event delivery across instances on a real RabbitMQ (a vhost of this file's own):
// service_pool handlers share the work, broadcast handlers each see everything, a singleton
// handler sees each event once across services; failed events are requeued only with
// requeueOnError; reliable queues keep events for a service that is down; a dispatch from
// a call resolves only on the broker's confirm; handlers run worker hooks and keep to max_workers.

import amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, DependencyProvider, EventDispatcher, eventDispatcher, eventHandler, loadConfig, rpc, ServiceContainer, type EnokiConfig, type StandaloneEventDispatcher, type WorkerContext } from 'enoki';
import { entrypointWaiter } from 'enoki/testing';
import { queues } from './support/broker-state.js';
import { eventually, sleep } from './helpers/eventually.js';
import { createVhost, type TestVhost } from './support/vhost.js';

let vhost: TestVhost;
let config: EnokiConfig;
let dispatch: StandaloneEventDispatcher;
const containers: ServiceContainer[] = [];

beforeAll(async () => {
  vhost = createVhost('events-cluster');
  config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } });
  dispatch = await eventDispatcher(config);
});

afterEach(async () => {
  await Promise.all(containers.splice(0).map((c) => c.stop()));
});

afterAll(async () => {
  await dispatch?.close();
  vhost?.remove();
});

async function start<S>(cls: new () => S & object, withConfig: EnokiConfig = config): Promise<ServiceContainer<S>> {
  const container = new ServiceContainer(cls as never, withConfig) as ServiceContainer<S>;
  containers.push(container as ServiceContainer);
  await container.start();
  return container;
}

/** Payloads each container's `method` ran with. */
function record(container: ServiceContainer, method: string): unknown[] {
  const seen: unknown[] = [];
  container.onWorkerDone(({ ctx }) => {
    if (ctx.methodName === method) seen.push(ctx.args[0]);
  });
  return seen;
}

const settle = (ms = 400) => sleep(ms);

class Warehouse {
  static name = 'warehouse';
  @eventHandler('shop', 'order_placed') reserve(_order: unknown) {}
  @eventHandler('shop', 'order_placed', { handlerType: 'broadcast', reliableDelivery: false }) refreshCache(_order: unknown) {}
  @eventHandler('shop', 'order_placed', { handlerType: 'singleton' }) audit(_order: unknown) {}
}

class Billing {
  static name = 'billing';
  @eventHandler('shop', 'order_placed', { handlerType: 'singleton' }) audit(_order: unknown) {}
}

describe('two instances and two services', () => {
  it('service_pool: once across instances; broadcast: once per instance; singleton: once across services', async () => {
    const a = await start(Warehouse);
    const b = await start(Warehouse);
    const billing = await start(Billing);
    const reserved = [record(a, 'reserve'), record(b, 'reserve')];
    const refreshed = [record(a, 'refreshCache'), record(b, 'refreshCache')];
    const audited = [record(a, 'audit'), record(b, 'audit'), record(billing, 'audit')];
    const ids = Array.from({ length: 20 }, (_, i) => i);
    for (const id of ids) await dispatch('shop', 'order_placed', { id });
    const total = (lists: unknown[][]) => lists.reduce((n, l) => n + l.length, 0);
    await eventually(() => total(reserved) === ids.length && total(refreshed) === 2 * ids.length && total(audited) === ids.length, 'every handler', 10_000);
    await settle();
    const sortedIds = (lists: unknown[][]) => lists.flat().map((p) => (p as { id: number }).id).sort((x, y) => x - y);
    expect(sortedIds(reserved)).toEqual(ids);
    expect(sortedIds(audited)).toEqual(ids);
    for (const perInstance of refreshed) expect(sortedIds([perInstance])).toEqual(ids);
    // Two instances share one service_pool queue and one singleton queue; broadcast has one each.
    const names = queues(vhost.name).map((q) => q.name);
    expect(names.filter((n) => n === 'evt-shop-order_placed--warehouse.reserve')).toHaveLength(1);
    expect(names.filter((n) => n === 'evt-shop-order_placed')).toHaveLength(1);
    expect(names.filter((n) => n.startsWith('evt-shop-order_placed--warehouse.refreshCache-'))).toHaveLength(2);
  });
});

const attempts = new Map<string, number>();

class Flaky {
  static name = 'flaky';
  @eventHandler('shop', 'flaky_event', { requeueOnError: true })
  retried(payload: { key: string }) {
    const n = (attempts.get(`retried-${payload.key}`) ?? 0) + 1;
    attempts.set(`retried-${payload.key}`, n);
    if (n === 1) throw new Error('first attempt fails');
  }

  @eventHandler('shop', 'flaky_event')
  dropped(payload: { key: string }) {
    attempts.set(`dropped-${payload.key}`, (attempts.get(`dropped-${payload.key}`) ?? 0) + 1);
    throw new Error('always fails');
  }
}

describe('a failing handler', () => {
  it('is acknowledged by default, and requeued with requeueOnError', async () => {
    const flaky = await start(Flaky);
    const retriedTwice = entrypointWaiter(flaky, 'retried', { filter: ({ error }) => error === undefined, timeoutMs: 10_000 });
    await dispatch('shop', 'flaky_event', { key: 'k1' });
    await retriedTwice;
    await settle(600);
    expect(attempts.get('retried-k1')).toBe(2);
    expect(attempts.get('dropped-k1')).toBe(1);
    const depth = queues(vhost.name).find((q) => q.name === 'evt-shop-flaky_event--flaky.dropped')!;
    expect({ messages: depth.messages, unacked: depth.messages_unacknowledged }).toEqual({ messages: 0, unacked: 0 });
  });
});

class Ledger {
  static name = 'ledger';
  @eventHandler('shop', 'payment_taken') book(_p: unknown) {}
  @eventHandler('shop', 'payment_taken', { reliableDelivery: false }) notify(_p: unknown) {}
  @eventHandler('shop', 'payment_taken', { handlerType: 'broadcast', broadcastIdentifier: () => 'host-a' }) mirror(_p: unknown) {}
}

describe('reliable delivery', () => {
  it('keeps an event dispatched while the service is down for its next start; an unreliable handler does not', async () => {
    const first = await start(Ledger);
    await first.stop();
    containers.splice(containers.indexOf(first as ServiceContainer), 1);
    await dispatch('shop', 'payment_taken', { id: 'while-down' });

    const second = new ServiceContainer(Ledger, config);
    containers.push(second);
    const booked = record(second, 'book');
    const mirrored = record(second, 'mirror');
    const notified = record(second, 'notify');
    await second.start();
    await eventually(() => booked.length === 1 && mirrored.length === 1, 'the kept events', 10_000);
    await settle();
    expect(booked).toEqual([{ id: 'while-down' }]);
    // A broadcast handler with a stable identifier keeps its queue across restarts too.
    expect(mirrored).toEqual([{ id: 'while-down' }]);
    expect(notified).toEqual([]);
    const mirror = queues(vhost.name).find((q) => q.name === 'evt-shop-payment_taken--ledger.mirror-host-a')!;
    expect({ durable: mirror.durable, auto_delete: mirror.auto_delete, exclusive: mirror.exclusive }).toEqual({ durable: true, auto_delete: false, exclusive: false });
  });
});

describe('an event nobody listens for', () => {
  it('is no error: the dispatch resolves, and the dispatcher counts it', async () => {
    await start(Warehouse);
    const before = dispatch.unroutable;
    await dispatch('shop', 'nobody_listens', { id: 1 });
    await dispatch('shop', 'nobody_listens', { id: 1 });
    expect(dispatch.unroutable).toBe(before + 2);
    // A bound type, the same body: routed, not counted (the returns are told apart by where they went).
    await Promise.all([dispatch('shop', 'order_placed', { id: 1 }), dispatch('shop', 'nobody_listens', { id: 1 })]);
    expect(dispatch.unroutable).toBe(before + 3);
  });
});

class Till {
  static name = 'till';
  dispatch = new EventDispatcher();
  @rpc async ring(eventType: string): Promise<string> {
    await this.dispatch(eventType, { rung: true });
    return 'rung';
  }
}

describe('a dispatch from a call', () => {
  it('waits for the broker\'s confirm: it resolves once the event is queued, and fails the call when the broker refuses it', async () => {
    await start(Till);
    const connection = await amqp.connect(vhost.uri, { noDelay: true });
    const client = await ClusterRpcProxy.connect(config);
    try {
      const channel = await connection.createChannel();
      // Nobody consumes these: what is in them is what the broker had confirmed.
      await channel.assertQueue('till-kept', { durable: true });
      await channel.bindQueue('till-kept', 'till.events', 'rung');
      // A queue that refuses every message: the broker answers the publish with basic.nack,
      // which only a dispatcher that waits for the confirm can see.
      await channel.assertQueue('till-refusing', { durable: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
      await channel.bindQueue('till-refusing', 'till.events', 'refused');

      for (let i = 1; i <= 3; i++) {
        expect(await client.till.ring('rung')).toBe('rung');
        expect((await channel.checkQueue('till-kept')).messageCount).toBe(i);
      }
      // An internal error: the caller sees its code, the service's log the broker's answer.
      await expect(client.till.ring('refused')).rejects.toThrow(/ENOKI_ERR_PUBLISH/);
      // The standalone dispatcher waits for it the same way.
      await expect(dispatch('till', 'refused', { rung: false })).rejects.toMatchObject({ code: 'ENOKI_ERR_PUBLISH' });
      expect((await channel.checkQueue('till-refusing')).messageCount).toBe(0);
    } finally {
      await client.close();
      await connection.close();
    }
  });
});

/** Counts worker hooks of event calls: handlers take the same worker path as @rpc. */
class EventHooks extends DependencyProvider<null> {
  static readonly seen: string[] = [];
  getDependency(): null {
    return null;
  }
  override workerSetup(ctx: WorkerContext): void {
    EventHooks.seen.push(`setup ${ctx.entrypoint} ${ctx.methodName}`);
  }
  override workerResult(ctx: WorkerContext, _result: unknown, error: Error | undefined): void {
    EventHooks.seen.push(`result ${ctx.entrypoint} ${ctx.methodName} ${error ? 'error' : 'ok'}`);
  }
  override workerTeardown(ctx: WorkerContext): void {
    EventHooks.seen.push(`teardown ${ctx.entrypoint} ${ctx.methodName}`);
  }
}

class Packer {
  static name = 'packer';
  static running = 0;
  static maxRunning = 0;
  hooks = new EventHooks();
  @eventHandler('shop', 'pack_me') async pack(_p: unknown): Promise<void> {
    await Packer.busy();
  }
  @eventHandler('shop', 'pack_me', { handlerType: 'broadcast', reliableDelivery: false }) async packToo(_p: unknown): Promise<void> {
    await Packer.busy();
  }
  static async busy(): Promise<void> {
    Packer.running++;
    Packer.maxRunning = Math.max(Packer.maxRunning, Packer.running);
    await sleep(80);
    Packer.running--;
  }
}

describe('event handlers take the worker path', () => {
  it('run their hooks, and keep to max_workers across handlers', async () => {
    const packer = await start(Packer, loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' }, max_workers: 2 }));
    const seen = [record(packer, 'pack'), record(packer, 'packToo')];
    await Promise.all(Array.from({ length: 6 }, (_, id) => dispatch('shop', 'pack_me', { id })));
    await eventually(() => seen[0]!.length === 6 && seen[1]!.length === 6, 'every event in both handlers', 15_000);
    // Two handlers with six events each and nothing else to wait for: max_workers 2 held them to two at a time.
    expect(Packer.maxRunning).toBe(2);
    for (const method of ['pack', 'packToo']) {
      for (const hook of [`setup event ${method}`, `result event ${method} ok`, `teardown event ${method}`]) {
        expect(EventHooks.seen.filter((s) => s === hook)).toHaveLength(6);
      }
    }
  });
});
