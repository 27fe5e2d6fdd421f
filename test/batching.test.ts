// @batched: concurrent calls gathered into one execution (up to maxBatch, or maxDelayMs
// after the first), element i answering call i, per-element errors failing one call, a
// thrown error or a wrong-sized result failing the batch; inline and in one pool task.
// Through the real RPC path on memory:// (the transport does not matter to batching).

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, ServiceRunner, type ClusterClient } from '../src/index.js';
import { BatchService, inlineBatches } from './fixtures/batching/batch-service.js';

const config = loadConfig({ AMQP_URI: 'memory://batching', max_workers: 32, POOL: { threads: 2 }, LOGGING: { level: 'silent' } });
let runner: ServiceRunner;
let client: ClusterClient;
const svc = (): ClusterClient[string] => client.batch_svc!;

beforeAll(async () => {
  runner = new ServiceRunner(config);
  runner.add(BatchService);
  await runner.start();
  client = await ClusterRpcProxy.connect(config);
});

afterAll(async () => {
  await client?.close();
  await runner?.stop();
});

beforeEach(() => {
  inlineBatches.length = 0;
});

describe('@batched', () => {
  it('answers each caller with its own element, in order, from shared executions of at most maxBatch', async () => {
    const inputs = Array.from({ length: 10 }, (_, i) => i + 1);
    const results = await Promise.all(inputs.map((x) => svc().double(x)));
    expect(results).toEqual(inputs.map((x) => x * 2));
    expect(inlineBatches.flat().sort((a, b) => a - b)).toEqual(inputs);
    expect(inlineBatches.every((b) => b.length <= 4)).toBe(true);
    // 10 concurrent calls at maxBatch 4: three executions, not ten.
    expect(inlineBatches.length).toBeLessThanOrEqual(4);
    expect(inlineBatches.length).toBeGreaterThanOrEqual(3);
  });

  it('a lone call runs after maxDelayMs, not sooner and not much later', async () => {
    const started = performance.now();
    expect(await svc().double(21)).toBe(42);
    const elapsed = performance.now() - started;
    expect(inlineBatches).toEqual([[21]]);
    expect(elapsed).toBeGreaterThanOrEqual(25);
    expect(elapsed).toBeLessThan(1000);
  });

  it('an Error element fails only its own call', async () => {
    const settled = await Promise.allSettled([svc().double(1), svc().double(-2), svc().double(3)]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 2 });
    expect(settled[2]).toEqual({ status: 'fulfilled', value: 6 });
    expect(settled[1]!.status).toBe('rejected');
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ excType: 'RangeError', message: expect.stringContaining('negative: -2') });
  });

  it('a thrown error fails every call of that batch', async () => {
    const settled = await Promise.allSettled([svc().double(1), svc().double('boom'), svc().double(3)]);
    expect(inlineBatches).toEqual([]);
    for (const s of settled) expect(s.status).toBe('rejected');
  });

  it('a result that is not one element per input fails the batch with ENOKI_ERR_BATCH_RESULT', async () => {
    const settled = await Promise.allSettled([svc().short(1), svc().short(2)]);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect(String((s as PromiseRejectedResult).reason)).toMatch(/ENOKI_ERR_BATCH_RESULT|must return an array of one result per input/);
    }
  });

  it('with @cpuBound, a batch is one pool task', async () => {
    const inputs = Array.from({ length: 16 }, (_, i) => i);
    const results = (await Promise.all(inputs.map((x) => svc().square(x)))) as Array<{ square: number; batch: number; threadId: number }>;
    expect(results.map((r) => r.square)).toEqual(inputs.map((x) => x * x));
    // Calls that shared a task report the same batch size; together they cover all 16.
    const sizes = new Map<number, number>();
    for (const r of results) sizes.set(r.batch, (sizes.get(r.batch) ?? 0) + 1);
    for (const [size, count] of sizes) expect(count % size).toBe(0);
    expect(Math.max(...results.map((r) => r.batch))).toBeGreaterThan(1);
    expect(results.every((r) => r.threadId > 0)).toBe(true);
  });

  it('with @cpuBound, an Error element comes back as its own class and fails only its call', async () => {
    const settled = await Promise.allSettled([svc().checked(1), svc().checked('x'), svc().checked(3)]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 2 });
    expect(settled[2]).toEqual({ status: 'fulfilled', value: 4 });
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ excType: 'NotANumber', message: expect.stringContaining('not a number: "x"') });
  });
});
