// Metrics and health on the real broker: the numbers /metrics reports are the calls that
// were made (counts equal, labels right), the gauges move with the work, and readiness
// follows the services. The broker-down half of readiness disturbs the broker, so it is in
// test/faults/metrics-readiness.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, ServiceRunner, webServerAddress, type ClusterClient, type EnokiConfig } from '../src/index.js';
import { isEnokiError } from '../src/errors.js';
import { CrunchService, MeteredService } from './fixtures/metrics-services.js';
import { eventually, sleep } from './helpers/eventually.js';
import { scrape, total, type Sample } from './support/prom-scrape.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const FIXTURE = new URL('./fixtures/metrics-services.ts', import.meta.url).href;

let vhost: TestVhost;
let config: EnokiConfig;
let runner: ServiceRunner;
let client: ClusterClient;
let url: string;

beforeAll(async () => {
  vhost = createVhost('metrics');
  config = loadConfig({
    AMQP_URI: vhost.uri,
    WEB_SERVER_ADDRESS: '127.0.0.1:0',
    METRICS_ADDRESS: '127.0.0.1:0',
    max_workers: 4,
    POOL: { threads: 2 },
    LOGGING: { level: 'silent' },
  });
  runner = new ServiceRunner(config);
  runner.add(MeteredService);
  runner.add(CrunchService, { module: FIXTURE, exportName: 'CrunchService' });
  await runner.start();
  url = runner.metricsAddress!.url;
  client = await ClusterRpcProxy.connect(config, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await client?.close();
  await runner?.stop();
  vhost?.remove();
});

const calls = (s: Sample[], labels: Record<string, string>) => total(s, 'enoki_calls_total', { service: 'metered', ...labels });

describe('counters and histograms', () => {
  it('count N calls once each, by method, entrypoint and outcome; the histogram counts N too', async () => {
    const N = 57;
    const before = await scrape(url);
    await Promise.all(Array.from({ length: N }, (_, i) => client.metered!.echo!(i)));
    await Promise.all(Array.from({ length: 5 }, () => expect(client.metered!.refuse!()).rejects.toThrow()));
    await Promise.all(Array.from({ length: 3 }, () => expect(client.metered!.fail!()).rejects.toThrow()));
    // A call is counted once it is over, just after its reply went: wait for the last ones.
    let after = await scrape(url);
    await expect.poll(async () => calls((after = await scrape(url)), { method: 'fail' }) - calls(before, { method: 'fail' }), { timeout: 5000 }).toBe(3);
    const delta = (name: string, labels: Record<string, string>) => total(after, name, labels) - total(before, name, labels);
    expect(delta('enoki_calls_total', { service: 'metered', method: 'echo', entrypoint: 'rpc', route: '', outcome: 'ok' })).toBe(N);
    expect(delta('enoki_calls_total', { service: 'metered', method: 'echo', outcome: 'error' })).toBe(0);
    expect(delta('enoki_calls_total', { service: 'metered', method: 'refuse', outcome: 'expected_error' })).toBe(5);
    expect(delta('enoki_calls_total', { service: 'metered', method: 'fail', outcome: 'error' })).toBe(3);
    expect(delta('enoki_call_duration_seconds_count', { service: 'metered', method: 'echo', entrypoint: 'rpc' })).toBe(N);
    expect(delta('enoki_call_duration_seconds_bucket', { service: 'metered', method: 'echo', le: '+Inf' })).toBe(N);
    expect(delta('enoki_worker_slot_wait_seconds_count', { service: 'metered' })).toBe(N + 8);
    expect(total(after, 'enoki_max_workers', { service: 'metered' })).toBe(4);
  });

  it('labels an HTTP call with its route pattern, not its path', async () => {
    const web = webServerAddress(config)!.url;
    for (const id of ['1', '22', 'abc']) expect((await fetch(`${web}/orders/${id}`)).status).toBe(200);
    const after = await scrape(url);
    expect(calls(after, { method: 'order', entrypoint: 'http', route: 'GET /orders/:id', outcome: 'ok' })).toBe(3);
    const routes = new Set(after.filter((s) => s.name === 'enoki_calls_total').map((s) => s.labels['route']));
    expect([...routes].filter((r) => r !== '' && r !== 'GET /orders/:id')).toEqual([]);
    // No call ids, no arguments: every label key is one of the declared ones.
    const keys = new Set(after.filter((s) => s.name.startsWith('enoki_')).flatMap((s) => Object.keys(s.labels)));
    expect([...keys].sort()).toEqual(expect.arrayContaining(['entrypoint', 'method', 'outcome', 'route', 'service']));
    for (const key of keys) expect(['entrypoint', 'method', 'outcome', 'route', 'service', 'le', 'stat', 'reason']).toContain(key);
  });
});

describe('gauges', () => {
  it('workers in flight rise during slow calls, up to max_workers, and return to 0', async () => {
    const waitedBefore = total(await scrape(url), 'enoki_worker_slot_wait_seconds_sum', { service: 'metered' });
    const slow = Array.from({ length: 6 }, () => client.metered!.slow!(1500));
    let seen = 0;
    let waiting = 0;
    const deadline = Date.now() + 10_000;
    while (seen < 4 && Date.now() < deadline) {
      const s = await scrape(url);
      seen = Math.max(seen, total(s, 'enoki_workers_in_flight', { service: 'metered' }));
      waiting = Math.max(waiting, total(s, 'enoki_workers_waiting', { service: 'metered' }));
      await sleep(50);
    }
    expect(seen).toBe(4);
    await Promise.all(slow);
    // A call leaves its slot just after its reply went.
    await expect.poll(async () => total(await scrape(url), 'enoki_workers_in_flight', { service: 'metered' }), { timeout: 5000 }).toBe(0);
    expect(total(await scrape(url), 'enoki_workers_waiting', { service: 'metered' })).toBe(0);
    // Six 1.5 s calls on four workers: two waited for a worker (in the RPC consumer) about 1.5 s each.
    expect(total(await scrape(url), 'enoki_worker_slot_wait_seconds_sum', { service: 'metered' }) - waitedBefore).toBeGreaterThan(2);
    expect(waiting).toBeGreaterThanOrEqual(0);
  });

  it('pool gauges move during @cpuBound work, and pool wait and run are timed per call', async () => {
    const before = await scrape(url);
    const work = Array.from({ length: 4 }, () => client.crunch!.spin!(800));
    let busy = 0;
    let queued = 0;
    const deadline = Date.now() + 15_000;
    while ((busy < 2 || queued < 1) && Date.now() < deadline) {
      const s = await scrape(url);
      busy = Math.max(busy, total(s, 'enoki_pool_threads_busy'));
      queued = Math.max(queued, total(s, 'enoki_pool_queue_size'));
      await sleep(30);
    }
    await Promise.all(work);
    await expect.poll(async () => total(await scrape(url), 'enoki_pool_task_duration_seconds_count', { service: 'crunch' }) - total(before, 'enoki_pool_task_duration_seconds_count', { service: 'crunch' }), { timeout: 5000 }).toBe(4);
    const after = await scrape(url);
    expect(busy).toBe(2);
    expect(queued).toBeGreaterThanOrEqual(1);
    expect(total(after, 'enoki_pool_threads_busy')).toBe(0);
    expect(total(after, 'enoki_pool_queue_size')).toBe(0);
    expect(total(after, 'enoki_pool_max_threads')).toBe(2);
    expect(total(after, 'enoki_pool_threads')).toBeGreaterThanOrEqual(1);
    const delta = (name: string) => total(after, name, { service: 'crunch', method: 'spin' }) - total(before, name, { service: 'crunch', method: 'spin' });
    expect(delta('enoki_pool_task_duration_seconds_count')).toBe(4);
    expect(delta('enoki_pool_wait_seconds_count')).toBe(4);
    // Two threads, four calls of 0.8 s: the last two waited for a thread.
    expect(delta('enoki_pool_task_duration_seconds_sum')).toBeGreaterThan(4 * 0.5);
    expect(delta('enoki_pool_wait_seconds_sum')).toBeGreaterThan(0.5);
  });

  it('reports the event-loop delay, the broker connection, and the default process metrics', async () => {
    const s = await scrape(url);
    for (const stat of ['p50', 'p99', 'max']) expect(s.some((x) => x.name === 'enoki_event_loop_delay_seconds' && x.labels['stat'] === stat)).toBe(true);
    expect(total(s, 'enoki_amqp_connected', { service: 'metered' })).toBe(1);
    expect(total(s, 'enoki_amqp_reconnects_total', { service: 'metered' })).toBe(0);
    expect(s.some((x) => x.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(s.some((x) => x.name === 'nodejs_heap_size_used_bytes')).toBe(true);
    expect(total(s, 'enoki_ready')).toBe(1);
  });
});

describe('health', () => {
  it('live and ready answer 200 while running', async () => {
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });

  it('readiness is 503 "starting" before the services run, 503 "stopping" during a stop, and the server goes with the runner', async () => {
    const own = createVhost('metrics-stop');
    try {
      const cfg = loadConfig({ AMQP_URI: own.uri, METRICS_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'silent' } });
      const r = new ServiceRunner(cfg);
      const container = r.add(MeteredService);
      const started = r.start();
      await eventually(() => r.metricsAddress !== undefined, 'the metrics server to listen', 10_000);
      const where = r.metricsAddress!.url;
      const early = await fetch(`${where}/health/ready`);
      if (container.state !== 'running') {
        expect(early.status).toBe(503);
        expect(await early.json()).toMatchObject({ reason: 'starting' });
      }
      await started;
      await eventually(() => true, 'noop');
      await expect.poll(async () => (await fetch(`${where}/health/ready`)).status, { timeout: 5000 }).toBe(200);
      const c = await ClusterRpcProxy.connect(cfg, { timeoutMs: 30_000 });
      const call = c.metered!.slow!(1200);
      await eventually(() => container.activeWorkers === 1, 'the slow call to start', 10_000);
      const stopping = r.stop();
      const during = await fetch(`${where}/health/ready`);
      expect(during.status).toBe(503);
      expect(await during.json()).toEqual({ status: 'not ready', reason: 'stopping' });
      expect((await fetch(`${where}/health/live`)).status).toBe(200);
      expect(await call).toBe('slow done');
      await stopping;
      await c.close();
      expect(r.metricsAddress).toBeUndefined();
      await expect(fetch(`${where}/health/live`)).rejects.toThrow();
    } finally {
      own.remove();
    }
  });
});

describe('config', () => {
  it('METRICS_ADDRESS unset: no server', async () => {
    const r = new ServiceRunner(loadConfig({ AMQP_URI: 'memory://metrics-off', LOGGING: { level: 'silent' } }));
    r.add(MeteredService);
    await r.start();
    try {
      expect(r.config.METRICS_ADDRESS).toBeNull();
      expect(r.metricsAddress).toBeUndefined();
    } finally {
      await r.stop();
    }
  });

  it('a bad METRICS_ADDRESS is a coded config error', () => {
    for (const bad of ['localhost', 'host:99999', 'http://x:9100', true]) {
      let caught: unknown;
      try {
        loadConfig({ METRICS_ADDRESS: bad });
      } catch (err) {
        caught = err;
      }
      expect(isEnokiError(caught, 'ENOKI_ERR_CONFIG_INVALID'), String(bad)).toBe(true);
      expect((caught as Error).message).toContain('METRICS_ADDRESS');
    }
  });

  it('a METRICS_ADDRESS already in use fails the start with ENOKI_ERR_METRICS_LISTEN', async () => {
    const r = new ServiceRunner(loadConfig({ AMQP_URI: 'memory://metrics-busy', METRICS_ADDRESS: `127.0.0.1:${runner.metricsAddress!.port}`, LOGGING: { level: 'silent' } }));
    r.add(MeteredService);
    await expect(r.start()).rejects.toMatchObject({ code: 'ENOKI_ERR_METRICS_LISTEN' });
    await r.kill();
  });
});
