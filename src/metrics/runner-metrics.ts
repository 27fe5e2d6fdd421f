// What feeds enoki's metrics from one ServiceRunner's containers: each call's outcome (the
// worker path's onWorkerDone), each broker connection's ups and downs, the process-wide
// notices of src/observed-events.ts, and, at scrape time, the gauges read from where they
// already live (the worker path's count, the pool, the loop watchdog). Also readiness:
// whether every service is running with its broker connection up.
//
// Per call this costs one counter increment and two histogram observations on series
// handles found once per label set (hot-path-metrics.ts; bench/metrics-overhead.ts and
// bench/rpc.ts measure it against metrics off).

import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';
import { ExpectedError } from '../errors.js';
import type { WorkerOutcome } from '../extension-host.js';
import { takeLoopDelayStats } from '../loop-watchdog-lease.js';
import { livePools } from '../offload/shared-pool.js';
import { onObserved, type ObservedEvent } from '../observed-events.js';
import type { ServiceContainer } from '../service-container.js';
import type { MethodDefinition } from '../service-definition.js';
import type { Transport } from '../transport/transport.js';
import type { EnokiMetrics } from './enoki-metrics.js';
import type { CounterSeries, HistogramSeries } from './hot-path-metrics.js';
import { HttpRouteLabels } from './http-route.js';

/** What the metrics read of a runner: its containers and its logger. */
export interface MetricsRunner {
  readonly containers: readonly ServiceContainer[];
  readonly logger: Logger;
}

/** What /health/ready answers: 200 with `{ status: 'ready' }`, or 503 with the reason. */
export interface Readiness {
  ready: boolean;
  body: { status: 'ready' } | { status: 'not ready'; reason: 'starting' | 'stopping' | 'stopped' | 'reconnecting'; service?: string };
}

type Outcome = 'ok' | 'error' | 'expected_error';

/** One (method, entrypoint, route) of a service: its series handles. */
interface CallSeries {
  duration: HistogramSeries;
  outcomes: Record<Outcome, CounterSeries>;
}

/** Metrics and readiness of one runner's services. */
export class RunnerMetrics {
  private readonly services: Set<string>;
  private readonly transports = new Map<ServiceContainer, Transport>();
  private readonly detachers: Array<() => void> = [];
  private stopping = false;
  private detached = false;

  constructor(
    private readonly runner: MetricsRunner,
    /** The metrics this feeds (their registry is what /metrics serves). */
    readonly metrics: EnokiMetrics,
  ) {
    this.services = new Set(runner.containers.map((c) => c.serviceName));
    for (const container of runner.containers) metrics.maxWorkers.set({ service: container.serviceName }, container.config.max_workers);
    this.detachers.push(onObserved((event) => this.observed(event)));
    for (const container of runner.containers) this.detachers.push(this.watchCalls(container));
    this.installCollectors();
  }

  /** The runner is stopping: readiness answers 503 `stopping` from now on. */
  markStopping(): void {
    this.stopping = true;
  }

  /** The runner started (again): readiness follows the containers. */
  markStarted(): void {
    this.stopping = false;
    for (const container of this.runner.containers) void this.watchTransport(container);
  }

  /** Stop listening (the runner stopped). */
  detach(): void {
    this.detached = true;
    for (const detach of this.detachers.splice(0)) detach();
  }

  /** Readiness now: every service running and its broker connection (if it has one) up. */
  readiness(): Readiness {
    if (this.stopping) return { ready: false, body: { status: 'not ready', reason: 'stopping' } };
    for (const container of this.runner.containers) {
      const service = container.serviceName;
      const state = container.state;
      if (state === 'created' || state === 'starting') return { ready: false, body: { status: 'not ready', reason: 'starting', service } };
      if (state === 'stopping') return { ready: false, body: { status: 'not ready', reason: 'stopping', service } };
      if (state !== 'running') return { ready: false, body: { status: 'not ready', reason: 'stopped', service } };
      const transport = this.transports.get(container);
      if (transport && !transport.connected) return { ready: false, body: { status: 'not ready', reason: 'reconnecting', service } };
      // A running container whose connection is not known yet (watchTransport is async):
      if (!transport && container.openedTransport) return { ready: false, body: { status: 'not ready', reason: 'starting', service } };
    }
    return { ready: true, body: { status: 'ready' } };
  }

  private watchCalls(container: ServiceContainer): () => void {
    const { calls, callDuration, slotWait } = this.metrics;
    const service = container.serviceName;
    const methods = container.definition.methods;
    const routes = new HttpRouteLabels();
    // method name -> entrypoint kind -> route -> series handles, found once per label set.
    const series = new Map<string, Map<string, Map<string, CallSeries>>>();
    const waited = slotWait.seriesFor({ service });
    const seriesFor = (method: string, entrypoint: string, route: string): CallSeries => {
      let byKind = series.get(method);
      if (!byKind) series.set(method, (byKind = new Map()));
      let byRoute = byKind.get(entrypoint);
      if (!byRoute) byKind.set(entrypoint, (byRoute = new Map()));
      let found = byRoute.get(route);
      if (!found) {
        const labels = { service, method, entrypoint, route };
        found = {
          duration: callDuration.seriesFor(labels),
          outcomes: {
            ok: calls.seriesFor({ ...labels, outcome: 'ok' }),
            error: calls.seriesFor({ ...labels, outcome: 'error' }),
            expected_error: calls.seriesFor({ ...labels, outcome: 'expected_error' }),
          },
        };
        byRoute.set(route, found);
      }
      return found;
    };
    return container.onWorkerDone((outcome: WorkerOutcome) => {
      const { ctx, error } = outcome;
      const definition = methods.get(ctx.methodName);
      const route = ctx.entrypoint === 'http' ? routes.label(ctx, definition) : '';
      const handles = seriesFor(ctx.methodName, ctx.entrypoint, route);
      handles.outcomes[outcomeOf(error, definition)].value++;
      callDuration.observe(handles.duration, (performance.now() - ctx.startedAt) / 1000);
      slotWait.observe(waited, (outcome.slotWaitMs ?? 0) / 1000);
    });
  }

  private async watchTransport(container: ServiceContainer): Promise<void> {
    const opened = container.openedTransport;
    if (!opened) return;
    const transport = await opened.catch(() => undefined);
    if (!transport || this.detached || this.transports.get(container) === transport) return;
    this.transports.set(container, transport);
    const labels = { service: container.serviceName };
    let lost = false;
    transport.on('disconnected', () => {
      lost = true;
    });
    transport.on('connected', () => {
      if (!lost || this.detached || this.transports.get(container) !== transport) return;
      lost = false;
      this.metrics.amqpReconnects.inc(labels);
    });
    // Present from the start, at 0, so a dashboard's rate() sees the first reconnect.
    this.metrics.amqpReconnects.inc(labels, 0);
  }

  private observed(event: ObservedEvent): void {
    if (!this.services.has(event.service)) return;
    const m = this.metrics;
    switch (event.kind) {
      case 'redelivered':
        m.redelivered.inc({ service: event.service });
        break;
      case 'malformed':
        m.malformed.inc({ service: event.service, reason: event.reason });
        break;
      case 'reply_dropped':
        m.repliesDropped.inc({ service: event.service, reason: event.reason });
        break;
      case 'pool_task':
        m.poolWait.observe({ service: event.service, method: event.method }, event.waitMs / 1000);
        if (event.runMs !== undefined) m.poolTaskDuration.observe({ service: event.service, method: event.method }, event.runMs / 1000);
        break;
    }
  }

  /** Gauges are read when scraped, from where the numbers already live: nothing per call. */
  private installCollectors(): void {
    const m = this.metrics;
    const containers = this.runner.containers;
    const self = this;
    collectWith(m.workersInFlight, function () {
      for (const c of containers) this.set({ service: c.serviceName }, Math.min(c.activeWorkers, c.config.max_workers));
    });
    collectWith(m.workersWaiting, function () {
      for (const c of containers) this.set({ service: c.serviceName }, Math.max(0, c.activeWorkers - c.config.max_workers));
    });
    collectWith(m.amqpConnected, function () {
      for (const [c, transport] of self.transports) this.set({ service: c.serviceName }, transport.connected ? 1 : 0);
    });
    const pools = (): { threads: number; max: number; busy: number; queue: number } => {
      const sum = { threads: 0, max: 0, busy: 0, queue: 0 };
      for (const pool of livePools()) {
        sum.threads += pool.piscina.threads.length;
        sum.max += pool.threads;
        sum.busy += pool.busy;
        sum.queue += pool.piscina.queueSize;
      }
      return sum;
    };
    collectWith(m.poolThreads, function () {
      this.set(pools().threads);
    });
    collectWith(m.poolMaxThreads, function () {
      this.set(pools().max);
    });
    collectWith(m.poolBusy, function () {
      this.set(pools().busy);
    });
    collectWith(m.poolQueue, function () {
      this.set(pools().queue);
    });
    collectWith(m.loopDelay, function () {
      // Since the previous scrape; 0 while no container runs (no watchdog then).
      const stats = takeLoopDelayStats() ?? { p50: 0, p99: 0, max: 0 };
      this.set({ stat: 'p50' }, stats.p50 / 1000);
      this.set({ stat: 'p99' }, stats.p99 / 1000);
      this.set({ stat: 'max' }, stats.max / 1000);
    });
    collectWith(m.ready, function () {
      this.set(self.readiness().ready ? 1 : 0);
    });
  }
}

/**
 * Fill `gauge` at scrape time. prom-client calls a gauge's `collect` (a constructor option,
 * kept as a property) before reading it; set here, beside the state it reads.
 */
function collectWith(gauge: Gauge<string>, collect: (this: Gauge<string>) => void): void {
  (gauge as unknown as { collect: (this: Gauge<string>) => void }).collect = collect;
}

/** ok, error, or expected_error (an ExpectedError, or a class the method declared expected). */
function outcomeOf(error: Error | undefined, method: MethodDefinition | undefined): Outcome {
  if (!error) return 'ok';
  if (error instanceof ExpectedError || method?.expected?.some((cls) => error instanceof cls)) return 'expected_error';
  return 'error';
}
