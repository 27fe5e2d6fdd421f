// Events and timers on memory://: the handler types, acknowledgement rules and testing
// helpers, without a broker (test/events-cluster.test.ts and test/events-nameko.test.ts run
// the same rules on RabbitMQ).

import { afterEach, describe, expect, it } from 'vitest';
import { EventDispatcher, eventHandler, isEnokiError, rpc } from 'enoki';
import { entrypointHook, entrypointWaiter, serviceFixtures } from 'enoki/testing';
import { captureLogs } from './helpers/log-capture.js';

const seen: Array<{ handler: string; payload: unknown }> = [];

export class Shop {
  static name = 'shop';
  static kept: ((type: string, payload?: unknown) => Promise<void>) | null = null;
  dispatch = new EventDispatcher();

  @rpc
  keep(): void {
    Shop.kept = this.dispatch;
  }

  @rpc
  async place(id: number): Promise<string> {
    await this.dispatch('order_placed', { id });
    return 'placed';
  }
}

export class Orders {
  static name = 'orders';

  @eventHandler('shop', 'order_placed')
  onPlaced(payload: unknown): void {
    seen.push({ handler: 'pool', payload });
  }

  @eventHandler('shop', 'order_placed', { handlerType: 'broadcast', reliableDelivery: false })
  onPlacedEverywhere(payload: unknown): void {
    seen.push({ handler: 'broadcast', payload });
  }

  @eventHandler('shop', 'order_failed')
  fails(payload: unknown): void {
    throw new Error(`cannot handle ${JSON.stringify(payload)}`);
  }
}

describe('events on memory://', () => {
  const services = serviceFixtures(afterEach);

  it('delivers a dispatch from a call to each handler, with the call id stack continued', async () => {
    seen.length = 0;
    await services.start(Shop);
    const orders = await services.start(Orders);
    const pool = entrypointWaiter(orders, 'onPlaced');
    const broadcast = entrypointWaiter(orders, 'onPlacedEverywhere');
    const client = await services.client();
    expect(await client.shop.place(7)).toBe('placed');
    const { ctx } = await pool;
    await broadcast;
    expect(ctx.entrypoint).toBe('event');
    expect(ctx.args).toEqual([{ id: 7 }]);
    expect(ctx.callIdStack).toHaveLength(3);
    expect(ctx.callIdStack[1]).toMatch(/^shop\.place\./);
    expect(seen.map((s) => s.handler).sort()).toEqual(['broadcast', 'pool']);
  });

  it('dispatches from a test with services.dispatcher(), and acknowledges a failing handler', async () => {
    const orders = await services.start(Orders);
    const failed = entrypointWaiter(orders, 'fails');
    const dispatch = await services.dispatcher();
    await dispatch('shop', 'order_failed', 'x');
    const { error } = await failed;
    expect(error?.message).toBe('cannot handle "x"');
    // Not requeued: no second run.
    await expect(entrypointWaiter(orders, 'fails', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'ENOKI_ERR_WAIT_TIMEOUT' });
  });

  it('logs a failing handler at error level with its stack, and acknowledges its event (nameko\'s default)', async () => {
    const logs = captureLogs();
    const orders = await services.start(Orders, { logger: logs.logger });
    const failed = entrypointWaiter(orders, 'fails');
    const dispatch = await services.dispatcher();
    await dispatch('shop', 'order_failed', { id: 9 });
    await failed;
    const errors = logs.records.filter((r) => r.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toBe('orders.fails raised Error: cannot handle {"id":9}');
    expect(String((errors[0]!.err as { stack?: string }).stack)).toMatch(/Error: cannot handle \{"id":9\}\n\s+at Orders\.fails/);
    // Acknowledged, not requeued: it never runs again.
    await expect(entrypointWaiter(orders, 'fails', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'ENOKI_ERR_WAIT_TIMEOUT' });
  });

  it('counts a dispatch from a call that no queue was bound for, without failing the call', async () => {
    const logs = captureLogs();
    const shop = await services.start(Shop, { logger: logs.logger });
    const client = await services.client();
    expect(await client.shop.place(1)).toBe('placed');
    const provider = shop.providers.get('dispatch') as unknown as { unroutable: number };
    expect(provider.unroutable).toBe(1);
    // Logged at debug level only: nothing at info or above.
    const dropped = logs.records.filter((r) => r.msg === 'no queue is bound for shop event order_placed; the broker dropped it');
    expect(dropped.map((r) => ({ level: r.level, exchange: r.exchange, eventType: r.eventType, unroutable: r.unroutable }))).toEqual([
      { level: 20, exchange: 'shop.events', eventType: 'order_placed', unroutable: 1 },
    ]);
    expect(logs.records.filter((r) => r.level >= 30 && /order_placed/.test(String(r.msg)))).toEqual([]);
    await services.start(Orders);
    expect(await client.shop.place(2)).toBe('placed');
    expect(provider.unroutable).toBe(1);
    expect(logs.records.filter((r) => r.msg === dropped[0]!.msg)).toHaveLength(1);
  });

  it('fails a dispatch made after the service stopped, and opens no connection for it', async () => {
    const shop = await services.start(Shop);
    await entrypointHook(shop, 'keep')();
    await shop.stop();
    await expect(Shop.kept!('order_placed', { id: 1 })).rejects.toMatchObject({ code: 'ENOKI_ERR_DISCONNECTED' });
  });

  it('calls an event handler directly with entrypointHook', async () => {
    seen.length = 0;
    const orders = await services.start(Orders);
    await entrypointHook(orders, 'onPlaced')({ id: 1 });
    expect(seen).toEqual([{ handler: 'pool', payload: { id: 1 } }]);
  });

  it('refuses what nameko refuses, when the class is decorated', () => {
    const attempt = (options: object) => () => {
      class Bad {
        static name = 'bad';
        @eventHandler('shop', 'x', options)
        on(_p: unknown) {}
      }
      return Bad;
    };
    expect(attempt({ handlerType: 'broadcast' })).toThrow(/not compatible with reliable delivery/);
    expect(attempt({ handlerType: 'broadcast', broadcastIdentifier: 'host-1' })).not.toThrow();
    expect(attempt({ handlerType: 'pool' })).toThrow(/handlerType is one of/);
    expect(attempt({ broadcastIdentifier: 'x' })).toThrow(/broadcast' only/);
    try {
      attempt({ handlerType: 'broadcast' })();
    } catch (err) {
      expect(isEnokiError(err, 'ENOKI_ERR_DECORATOR_USAGE')).toBe(true);
    }
  });

  it('rejects a dispatch of what cannot be an event', async () => {
    const dispatch = await services.dispatcher();
    await expect(dispatch('shop', '', 1)).rejects.toMatchObject({ code: 'ENOKI_ERR_EVENT_TYPE' });
    await expect(dispatch('shop', 'x', () => 1)).rejects.toMatchObject({ code: 'ENOKI_ERR_EVENT_PAYLOAD' });
    await expect(dispatch('not a service', 'x', 1)).rejects.toMatchObject({ code: 'ENOKI_ERR_EVENT_SOURCE' });
    await dispatch.close();
    await expect(dispatch('shop', 'x', 1)).rejects.toMatchObject({ code: 'ENOKI_ERR_DISPATCHER_CLOSED' });
  });
});
