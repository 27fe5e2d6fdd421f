// A runner's metrics and health, together: made when a ServiceRunner starts with
// METRICS_ADDRESS set, closed when it stops. The runner calls only this file.
//
// prom-client is imported here, on demand: a process without METRICS_ADDRESS (and every
// pool thread, which imports enoki to find a service class) never loads it.

import { EnokiMetrics } from './enoki-metrics.js';
import { startMetricsServer, type MetricsServerAddress } from './metrics-server.js';
import { RunnerMetrics, type MetricsRunner } from './runner-metrics.js';

export type { MetricsServerAddress } from './metrics-server.js';

/** A runner's metrics server and what feeds it. */
export interface RunnerObservability {
  /** Where /metrics and /health/* are served. */
  readonly address: MetricsServerAddress;
  /** The metrics and readiness (tests read the registry directly). */
  readonly metrics: RunnerMetrics;
  /** Every service started: readiness follows their connections. */
  started(): void;
  /** A stop began: readiness answers 503 `stopping`. */
  stopping(): void;
  /** Stop serving and stop listening to the services. */
  close(): Promise<void>;
}

/** Listen on `address` and serve the metrics and health of `runner`'s services. */
export async function startObservability(runner: MetricsRunner, address: string): Promise<RunnerObservability> {
  const metrics = new RunnerMetrics(runner, new EnokiMetrics(await import('prom-client')));
  let server;
  try {
    server = await startMetricsServer(address, metrics, runner.logger);
  } catch (err) {
    metrics.detach();
    throw err;
  }
  return {
    address: server.address,
    metrics,
    started: () => metrics.markStarted(),
    stopping: () => metrics.markStopping(),
    close: async () => {
      metrics.detach();
      await server.close();
    },
  };
}
