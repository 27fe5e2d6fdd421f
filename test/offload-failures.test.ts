// When a pool thread goes wrong: it dies (process.exit, out of memory), a call outlives its
// timeout, the queue is full. Each call gets a coded error reply; the pool replaces what
// it lost and the service keeps serving.

import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, ServiceRunner, type ClusterClient } from '../src/index.js';
import { FailuresService, FullService, OomService } from './fixtures/offload/services.js';
import { remoteError } from './helpers/remote-error.js';

const base = {
  AMQP_URI: 'amqp://guest:guest@127.0.0.1:5672/',
  rpc_exchange: 'offload-failures-test',
  LOGGING: { level: 'silent' as const },
};
const config = loadConfig({ ...base, POOL: { threads: 2 } });
// A different POOL section means a pool of its own.
const oomConfig = loadConfig({ ...base, POOL: { threads: 1, max_memory_mb: 32 } });
const fullConfig = loadConfig({ ...base, POOL: { threads: 1, max_queue: 0 } });

let runner: ServiceRunner;
let client: ClusterClient;

beforeAll(async () => {
  runner = new ServiceRunner(config, { logger: pino({ level: 'silent' }) });
  runner.add(FailuresService);
  runner.add(OomService, { config: oomConfig });
  runner.add(FullService, { config: fullConfig });
  await runner.start();
  client = await ClusterRpcProxy.connect(config, { logger: pino({ level: 'silent' }) });
}, 30_000);

afterAll(async () => {
  await client?.close();
  await runner?.stop();
});


describe('a pool thread that dies', () => {
  it('process.exit in the method: ENOKI_ERR_WORKER_DIED, then the next call is served by a new thread', async () => {
    const svc = client.offload_failures_svc!;
    const err = await remoteError(svc.exit(3));
    expect(err.excType).toBe('EnokiError');
    expect(err.remoteCode).toBe('ENOKI_ERR_WORKER_DIED');
    expect(err.value).toBe('offload_failures_svc.exit: the pool thread running it died (exit code 3: process.exit() in the method, or a fatal error)');
    // The replacement thread loads the module (and its statics) afresh.
    expect(await svc.statics()).toMatchObject({ onMainThread: false, modelLoads: 1 });
    expect(await svc.echo('still serving')).toBe('still serving');
  });

  it('out of memory under POOL.max_memory_mb: ENOKI_ERR_WORKER_DIED, then the service keeps serving', async () => {
    const svc = client.offload_oom_svc!;
    const before = await svc.whoami();
    const err = await remoteError(svc.exhaustMemory());
    expect(err.value).toMatch(/^offload_oom_svc\.exhaustMemory: the pool thread running it died \(out of memory: .*raise POOL\.max_memory_mb/);
    const after = await svc.whoami();
    expect(after).not.toBe(before);
  }, 20_000);
});

describe('@cpuBound({ timeout })', () => {
  it('a running call past its timeout is aborted (ENOKI_ERR_ABORTED) and its thread replaced', async () => {
    const svc = client.offload_failures_svc!;
    const started = performance.now();
    const err = await remoteError(svc.limited(5_000));
    expect(err.value).toBe(
      'offload_failures_svc.limited was aborted: it ran past its timeout of 1500 ms; the pool thread running it was ended and replaced',
    );
    // Aborted at the timeout, not after the 5 s of work (generous bound for a busy CI box).
    expect(performance.now() - started).toBeLessThan(4_500);
    expect(await svc.limited(10)).toBe('finished in time');
  });

  it('a call still queued at its timeout is removed from the queue without costing a thread', async () => {
    const svc = client.offload_failures_svc!;
    // Occupy both threads.
    const busy = [svc.busy(3_500), svc.busy(3_500)];
    await new Promise((resolve) => setTimeout(resolve, 200));
    const err = await remoteError(svc.limited(10));
    expect(err.value).toBe('offload_failures_svc.limited was aborted: it waited its whole timeout of 1500 ms for a free pool thread and never started');
    // Both running calls finish: removing the queued one ended no thread.
    await expect(Promise.all(busy)).resolves.toHaveLength(2);
  }, 15_000);
});

describe('POOL.max_queue', () => {
  it('a call that would wait beyond max_queue fails at once with ENOKI_ERR_POOL_FULL', async () => {
    const svc = client.offload_full_svc!;
    const running = svc.busy(1_500);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const err = await remoteError(svc.echo('one too many'));
    expect(err.value).toBe('offload_full_svc.echo: the worker pool queue is full (0 tasks waiting)');
    await expect(running).resolves.toMatch(/^busy 1500 ms/);
    expect(await svc.echo('room again')).toBe('room again');
  });
});
