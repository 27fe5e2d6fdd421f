// A @cpuBound event handler busy for longer than two heartbeat intervals, at HEARTBEAT: 2
// on a real RabbitMQ: it runs in a pool thread, so the connection never drops, the event
// is handled once (no redelivery), the service's timer keeps ticking meanwhile, and the
// handler's `this.dispatch` from the pool thread reaches the broker.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventDispatcher, loadConfig, ServiceContainer, type EnokiConfig, type WorkerOutcome } from '../src/index.js';
import { entrypointWaiter } from '../src/testing/index.js';
import { BusyEvents } from './fixtures/events/busy-events-service.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const HEARTBEAT = 2;
const BUSY_MS = 2.5 * HEARTBEAT * 1000;

let vhost: TestVhost;
let config: EnokiConfig;

beforeAll(() => {
  vhost = createVhost('events-offload');
  config = loadConfig({ AMQP_URI: vhost.uri, HEARTBEAT, LOGGING: { level: 'silent' } });
});

afterAll(() => vhost?.remove());

describe('a @cpuBound event handler at HEARTBEAT: 2', () => {
  it('is handled once in a pool thread while the timer ticks and the connection stays up', async () => {
    const container = new ServiceContainer(BusyEvents, config, { module: new URL('./fixtures/events/busy-events-service.ts', import.meta.url).href });
    const outcomes: WorkerOutcome[] = [];
    container.onWorkerDone((outcome) => outcomes.push(outcome));
    await container.start();
    const transport = await container.getTransport();
    let disconnects = 0;
    transport.on('disconnected', () => disconnects++);
    const dispatch = await eventDispatcher(config);
    try {
      const crunchDone = entrypointWaiter(container, 'crunch', { timeoutMs: BUSY_MS + 15_000 });
      const crunched = entrypointWaiter(container, 'crunched', { timeoutMs: BUSY_MS + 15_000 });
      const started = performance.now();
      await dispatch('busy_source', 'crunch', { ms: BUSY_MS, id: 'c1' });
      const { ctx } = await crunched;
      await crunchDone;
      const elapsed = performance.now() - started;
      expect(ctx.args).toEqual([{ id: 'c1', threadResult: expect.any(Number) }]);
      expect(elapsed).toBeGreaterThanOrEqual(BUSY_MS);

      const crunches = outcomes.filter((o) => o.ctx.methodName === 'crunch');
      expect(crunches).toHaveLength(1);
      expect(crunches[0]!.error).toBeUndefined();
      // Ticks every 250 ms; while the handler computed for BUSY_MS the timer kept going
      // (a blocked main loop would give one late tick at most). Generous bound for a busy CI box.
      const ticksDuring = outcomes.filter((o) => o.ctx.methodName === 'tick' && o.ctx.startedAt >= crunches[0]!.ctx.startedAt && o.ctx.startedAt <= crunches[0]!.ctx.startedAt + BUSY_MS);
      expect(ticksDuring.length).toBeGreaterThanOrEqual(Math.floor(BUSY_MS / 250 / 2));

      // Two more heartbeat timeouts: a dropped connection or a redelivery would show now.
      await new Promise((resolve) => setTimeout(resolve, HEARTBEAT * 2 * 1000));
      expect(outcomes.filter((o) => o.ctx.methodName === 'crunch')).toHaveLength(1);
      expect(disconnects).toBe(0);
      expect(transport.connected).toBe(true);
    } finally {
      await dispatch.close();
      await container.stop();
    }
  }, 60_000);
});
