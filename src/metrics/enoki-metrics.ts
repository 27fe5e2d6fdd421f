// enoki's Prometheus metrics: their names, labels and buckets, written once, in a
// prom-client Registry of enoki's own (never prom-client's global one), so two runners in
// one process (tests) do not register the same name twice, and a user's own metrics in
// the global registry are not mixed into enoki's /metrics.
//
// Labels are bounded: service and method names, the entrypoint kind, an HTTP route's
// pattern (never its path), error class names. No call ids, no arguments.

import type { Counter, Gauge, Histogram, Metric, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './hot-path-metrics.js';

/** prom-client, loaded only when metrics are on: importing it costs ~50 ms, and every pool thread imports enoki. */
export type PromClient = typeof import('prom-client');

/** Seconds: from a fast inline call (1 ms) to a long `@cpuBound` one (1 min). */
const CALL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds: waits are short when all is well, so the low end is finer. */
const WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30];

/** Every metric enoki registers, by role; the runner's collectors fill in the gauges at scrape time. */
export class EnokiMetrics {
  /** The registry /metrics serves. */
  readonly registry: Registry;
  /** Per-call metrics are handles-based (hot-path-metrics.ts): every call records them. */
  readonly calls: FastCounter;
  readonly callDuration: FastHistogram;
  readonly slotWait: FastHistogram;
  readonly workersInFlight: Gauge<string>;
  readonly workersWaiting: Gauge<string>;
  readonly maxWorkers: Gauge<string>;
  readonly poolThreads: Gauge<string>;
  readonly poolMaxThreads: Gauge<string>;
  readonly poolBusy: Gauge<string>;
  readonly poolQueue: Gauge<string>;
  readonly poolWait: Histogram<string>;
  readonly poolTaskDuration: Histogram<string>;
  readonly loopDelay: Gauge<string>;
  readonly amqpConnected: Gauge<string>;
  readonly amqpReconnects: Counter<string>;
  readonly redelivered: Counter<string>;
  readonly malformed: Counter<string>;
  readonly repliesDropped: Counter<string>;
  readonly ready: Gauge<string>;

  constructor(prom: PromClient) {
    const registry = (this.registry = new prom.Registry());
    this.calls = new FastCounter('enoki_calls_total', 'Calls finished, by service, method, entrypoint kind, HTTP route pattern ("" for other kinds) and outcome (ok, error, expected_error).', ['service', 'method', 'entrypoint', 'route', 'outcome']);
    this.callDuration = new FastHistogram('enoki_call_duration_seconds', 'Time from a call getting its worker slot to its end (answer sent, hooks run).', ['service', 'method', 'entrypoint', 'route'], CALL_BUCKETS);
    this.slotWait = new FastHistogram('enoki_worker_slot_wait_seconds', 'Time a call waited for one of the service\'s max_workers slots (0 when one was free).', ['service'], WAIT_BUCKETS);
    for (const metric of [this.calls, this.callDuration, this.slotWait]) registry.registerMetric(metric as unknown as Metric);
    this.workersInFlight = new prom.Gauge({
      name: 'enoki_workers_in_flight',
      help: 'Calls holding a worker slot now (at most enoki_max_workers).',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    this.workersWaiting = new prom.Gauge({
      name: 'enoki_workers_waiting',
      help: 'Calls accepted and waiting for a worker slot now.',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    this.maxWorkers = new prom.Gauge({
      name: 'enoki_max_workers',
      help: 'The service\'s max_workers: calls it runs at once.',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    this.poolThreads = new prom.Gauge({ name: 'enoki_pool_threads', help: 'Worker-pool threads alive (@cpuBound methods).', registers: [registry] });
    this.poolMaxThreads = new prom.Gauge({ name: 'enoki_pool_max_threads', help: 'Worker-pool threads at most (POOL.threads).', registers: [registry] });
    this.poolBusy = new prom.Gauge({ name: 'enoki_pool_threads_busy', help: 'Worker-pool threads running a task now.', registers: [registry] });
    this.poolQueue = new prom.Gauge({ name: 'enoki_pool_queue_size', help: 'Worker-pool tasks waiting for a thread now.', registers: [registry] });
    this.poolWait = new prom.Histogram({
      name: 'enoki_pool_wait_seconds',
      help: 'Time a @cpuBound call waited for a pool thread.',
      labelNames: ['service', 'method'] as const,
      buckets: WAIT_BUCKETS,
      registers: [registry],
    });
    this.poolTaskDuration = new prom.Histogram({
      name: 'enoki_pool_task_duration_seconds',
      help: 'Time a @cpuBound call ran in a pool thread.',
      labelNames: ['service', 'method'] as const,
      buckets: CALL_BUCKETS,
      registers: [registry],
    });
    this.loopDelay = new prom.Gauge({
      name: 'enoki_event_loop_delay_seconds',
      help: 'Event-loop delay since the previous scrape (perf_hooks monitorEventLoopDelay, via the loop watchdog), by stat: p50, p99, max.',
      labelNames: ['stat'] as const,
      registers: [registry],
    });
    this.amqpConnected = new prom.Gauge({
      name: 'enoki_amqp_connected',
      help: '1 while the service\'s broker connection is up, 0 while it is down (reconnecting).',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    this.amqpReconnects = new prom.Counter({
      name: 'enoki_amqp_reconnects_total',
      help: 'Broker connections made again after one was lost.',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    this.redelivered = new prom.Counter({
      name: 'enoki_messages_redelivered_total',
      help: 'RPC requests that arrived with the broker\'s redelivered flag set.',
      labelNames: ['service'] as const,
      registers: [registry],
    });
    this.malformed = new prom.Counter({
      name: 'enoki_messages_malformed_total',
      help: 'RPC requests refused before running (no reply_to or correlation id, undecodable, too large, unknown method, wrong arguments), by error name.',
      labelNames: ['service', 'reason'] as const,
      registers: [registry],
    });
    this.repliesDropped = new prom.Counter({
      name: 'enoki_replies_dropped_total',
      help: 'Replies dropped: late_or_duplicate (a caller got a reply for no pending call), not_confirmed (a service\'s reply was lost with its connection; the request is answered again).',
      labelNames: ['service', 'reason'] as const,
      registers: [registry],
    });
    this.ready = new prom.Gauge({
      name: 'enoki_ready',
      help: '1 when /health/ready answers 200 (every service running, its broker connection up), else 0.',
      registers: [registry],
    });
    // nodejs_* and process_*: heap, GC, handles, CPU, file descriptors, the loop's own lag.
    prom.collectDefaultMetrics({ register: registry });
  }
}
