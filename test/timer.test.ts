// @timer(seconds, { eager }) as nameko's: ticks due one interval after the previous tick
// started, never overlapping, the first at start when eager; through the worker path
// (hooks); an error logged and the timer going on; a clean stop that lets a running tick
// finish. The container is configured for the real broker (a vhost of this file's own),
// though a timer-only service never needs to connect.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DependencyProvider, loadConfig, ServiceContainer, timer, type EnokiConfig, type WorkerContext } from 'enoki';
import { eventually, sleep } from './helpers/eventually.js';
import { captureLogs } from './helpers/log-capture.js';
import { PoolTimer } from './fixtures/timer/pool-timer-service.js';
import { createVhost, type TestVhost } from './support/vhost.js';

let vhost: TestVhost;
let config: EnokiConfig;
const containers: ServiceContainer[] = [];

beforeAll(() => {
  vhost = createVhost('timer');
  config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } });
});

afterEach(async () => {
  await Promise.all(containers.splice(0).map((c) => c.stop()));
});

afterAll(() => vhost?.remove());

function containerFor<S>(cls: new () => S, logger?: ReturnType<typeof captureLogs>['logger'], options: { module?: string; config?: EnokiConfig } = {}): ServiceContainer<S> {
  const container = new ServiceContainer(cls as never, options.config ?? config, { logger, module: options.module }) as ServiceContainer<S>;
  containers.push(container as ServiceContainer);
  return container;
}

/** Start and end of every tick of a method, from the container's point of view. */
function ticksOf(container: ServiceContainer, method: string): Array<{ start: number; end: number; error?: Error }> {
  const ticks: Array<{ start: number; end: number; error?: Error }> = [];
  container.onWorkerDone(({ ctx, error }) => {
    if (ctx.methodName === method) ticks.push({ start: ctx.startedAt, end: performance.now(), error });
  });
  return ticks;
}

class Hooks extends DependencyProvider<null> {
  static setups = 0;
  getDependency(): null {
    return null;
  }
  override workerSetup(ctx: WorkerContext): void {
    if (ctx.entrypoint === 'timer') Hooks.setups++;
  }
}

class Steady {
  static name = 'steady';
  hooks = new Hooks();
  // A tick that takes half its interval: the schedule runs from tick starts, so it must not drift.
  @timer(0.1)
  async tick(): Promise<void> {
    await sleep(50);
  }
}

class Slow {
  static name = 'slow';
  static running = 0;
  static maxRunning = 0;
  // Each tick takes 2.5 intervals.
  @timer(0.05, { eager: true })
  async tick(): Promise<void> {
    Slow.running++;
    Slow.maxRunning = Math.max(Slow.maxRunning, Slow.running);
    await sleep(125);
    Slow.running--;
  }
}

class Crowded {
  static name = 'crowded';
  static running = 0;
  static maxRunning = 0;
  static ticks = 0;
  // Two timers that would overlap each other; max_workers 1 lets one tick run at a time.
  @timer(0.02, { eager: true }) async a(): Promise<void> {
    await Crowded.busy();
  }
  @timer(0.02, { eager: true }) async b(): Promise<void> {
    await Crowded.busy();
  }
  static async busy(): Promise<void> {
    Crowded.running++;
    Crowded.ticks++;
    Crowded.maxRunning = Math.max(Crowded.maxRunning, Crowded.running);
    await sleep(60);
    Crowded.running--;
  }
}

class Failing {
  static name = 'failing';
  @timer(0.05, { eager: true })
  tick(): void {
    throw new Error('tick failed');
  }
}

describe('@timer', () => {
  it('keeps its interval over 10 ticks, from tick start to tick start, through the worker path', async () => {
    const container = containerFor(Steady);
    const ticks = ticksOf(container, 'tick');
    Hooks.setups = 0;
    const startedAt = performance.now();
    await container.start();
    await eventually(() => ticks.length >= 10, '10 ticks', 5000);
    // Not eager: the first tick one interval after start.
    expect(ticks[0]!.start - startedAt).toBeGreaterThanOrEqual(90);
    const gaps = ticks.slice(1, 10).map((t, i) => t.start - ticks[i]!.start);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(95);
      expect(gap).toBeLessThan(250);
    }
    // Nine intervals of 100 ms from tick start to tick start (900 ms), not nine of 150 ms
    // (interval + tick time, 1350 ms), with room for a loaded machine in between.
    expect(ticks[9]!.start - ticks[0]!.start).toBeLessThan(1200);
    expect(Hooks.setups).toBeGreaterThanOrEqual(10);
  });

  it('never overlaps a tick that runs past its interval, and starts the next when it ends; eager runs the first at start', async () => {
    const container = containerFor(Slow);
    const ticks = ticksOf(container, 'tick');
    const startedAt = performance.now();
    await container.start();
    await eventually(() => ticks.length >= 4, '4 ticks', 5000);
    expect(ticks[0]!.start - startedAt).toBeLessThan(50);
    expect(Slow.maxRunning).toBe(1);
    for (let i = 1; i < ticks.length; i++) {
      expect(ticks[i]!.start).toBeGreaterThanOrEqual(ticks[i - 1]!.end - 1);
      // Not stacked: the next one starts right away rather than after a further interval.
      expect(ticks[i]!.start - ticks[i - 1]!.end).toBeLessThan(45);
    }
  });

  it('logs a failing tick with its stack and keeps going', async () => {
    const logs = captureLogs();
    const container = containerFor(Failing, logs.logger);
    const ticks = ticksOf(container, 'tick');
    await container.start();
    await eventually(() => ticks.length >= 3, '3 ticks', 5000);
    await container.stop();
    expect(ticks.every((t) => t.error?.message === 'tick failed')).toBe(true);
    // Every failed tick was logged at error level with its stack (none lost, none twice).
    const errors = logs.records.filter((r) => r.level === 50 && r.msg === 'failing.tick raised Error: tick failed');
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors.length).toBe(ticks.length);
    expect(String((errors[0]!.err as { stack?: string }).stack)).toMatch(/Error: tick failed\n\s+at Failing\.tick/);
  });

  it('stops cleanly: a running tick finishes, and none starts after stop', async () => {
    const container = containerFor(Slow);
    const ticks = ticksOf(container, 'tick');
    await container.start();
    await eventually(() => Slow.running === 1, 'a running tick', 5000);
    const before = ticks.length;
    await container.stop();
    // The running tick was waited for by the stop.
    expect(Slow.running).toBe(0);
    expect(ticks.length).toBe(before + 1);
    await sleep(300);
    expect(ticks.length).toBe(before + 1);
    expect(container.state).toBe('stopped');
  });

  it('keeps to max_workers across timers', async () => {
    const container = containerFor(Crowded, undefined, { config: loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' }, max_workers: 1 }) });
    await container.start();
    await eventually(() => Crowded.ticks >= 6, '6 ticks', 10_000);
    await container.stop();
    expect(Crowded.maxRunning).toBe(1);
  });

  it('runs a @cpuBound tick in a pool thread, and a stop lets the running one finish within the grace period', async () => {
    const container = containerFor(PoolTimer, undefined, { module: new URL('./fixtures/timer/pool-timer-service.ts', import.meta.url).href });
    const ticks = ticksOf(container, 'refresh');
    const results: unknown[] = [];
    container.onWorkerDone(({ ctx, result }) => ctx.methodName === 'refresh' && results.push(result));
    await container.start();
    await eventually(() => ticks.length >= 1, 'a pool tick', 20_000);
    expect(results[0]).toMatchObject({ mainThread: false });
    expect((results[0] as { threadId: number }).threadId).toBeGreaterThan(0);
    // The next tick is due 100 ms after the last started, and runs 400 ms: stop while it runs.
    await eventually(() => container.activeWorkers === 1, 'a running pool tick', 5000);
    const before = ticks.length;
    await container.stop();
    // Finished (not aborted: POOL.shutdown_grace is longer than a tick), and none after.
    expect(ticks.length).toBe(before + 1);
    expect(ticks.every((t) => t.error === undefined)).toBe(true);
    await sleep(300);
    expect(ticks.length).toBe(before + 1);
    expect(container.state).toBe('stopped');
  }, 60_000);

  it('refuses an interval that is not a positive number of seconds', () => {
    expect(() => timer(0)).toThrow(/positive number of seconds/);
    expect(() => timer(Number.NaN)).toThrow(/positive number of seconds/);
    expect(() => timer(30 * 24 * 3600)).toThrow(/under 24.8 days/);
  });
});
