// ServiceRunner: several services in one process (nameko's ServiceRunner), each in its
// own container with its own connection, started together and stopped together.

import type { Logger } from 'pino';
import type { EnokiConfig } from './config.js';
import { resolveConfig, type ConfigInput } from './config-input.js';
import { createLogger } from './logger.js';
import { ServiceContainer, type ContainerOptions } from './service-container.js';
import { EnokiError } from './errors.js';
import { hasEntrypoints, type ServiceClass } from './service-definition.js';
import { startObservability, type MetricsServerAddress, type RunnerObservability } from './metrics/runner-observability.js';

export type { MetricsServerAddress } from './metrics/runner-observability.js';

/** Options of {@link ServiceRunner.add}: a container's options, plus a config of the service's own. */
export interface RunnerServiceOptions extends ContainerOptions {
  /** This service's own config; default: the runner's. */
  config?: ConfigInput;
}

/**
 * Several services in one process, as nameko's ServiceRunner: each in its own
 * {@link ServiceContainer} with its own connection, started together and stopped
 * together. `enoki run` runs its services in one.
 *
 *     const runner = new ServiceRunner(loadConfig('config.yaml'));
 *     runner.add(GreetingService);
 *     await runner.start();
 */
export class ServiceRunner {
  /** The containers of the services added, in the order they were added. */
  readonly containers: ServiceContainer[] = [];
  /** The runner's config: every service's, unless added with its own. */
  readonly config: EnokiConfig;
  /** The logger every container logs to, unless added with its own. */
  readonly logger: Logger;
  /** The metrics server and its sources while the runner runs with METRICS_ADDRESS set. */
  private observability: RunnerObservability | null = null;

  /**
   * @param config - The services' config (default: enoki's defaults).
   * @param options - `logger`: the logger for every container (default: one made from the config's LOGGING).
   */
  constructor(config?: ConfigInput, options: { logger?: Logger } = {}) {
    this.config = resolveConfig(config);
    this.logger = options.logger ?? createLogger(this.config.LOGGING);
  }

  /**
   * Add a service class: makes its container (not started; `start()` starts every
   * container) with the runner's config and logger unless `options` gives its own, and
   * returns it. A class with no `@rpc` or `@http` method is refused
   * (`ENOKI_ERR_NO_ENTRYPOINTS`), as is a second service of the same name.
   */
  add<S>(cls: ServiceClass<S>, options: RunnerServiceOptions = {}): ServiceContainer<S> {
    const { config, ...containerOptions } = options;
    // A runner serves its services' entrypoints; one with none would start and answer nothing.
    if (!hasEntrypoints(cls)) {
      // `static name = '...'` (the service name) hides the class's own name.
      const label = options.exportName ?? cls.name ?? 'Service';
      throw new EnokiError('ENOKI_ERR_NO_ENTRYPOINTS', [label, options.module ? `in ${options.module}` : 'added to a ServiceRunner', label]);
    }
    const container = new ServiceContainer(cls, config === undefined ? this.config : resolveConfig(config), { logger: this.logger, ...containerOptions });
    if (this.containers.some((c) => c.serviceName === container.serviceName)) {
      throw new Error(`service ${container.serviceName} was added twice to one runner`);
    }
    this.containers.push(container);
    return container;
  }

  /**
   * Where `/metrics`, `/health/live` and `/health/ready` are served while the runner runs
   * with METRICS_ADDRESS set (the real port when it asked for port 0); undefined otherwise.
   */
  get metricsAddress(): MetricsServerAddress | undefined {
    return this.observability?.address;
  }

  /**
   * Start every container; if one fails, the ones already started are killed. With
   * METRICS_ADDRESS set, the metrics server listens first, so liveness answers (and
   * readiness says `starting`) while the services wait for the broker.
   */
  async start(): Promise<void> {
    if (this.config.METRICS_ADDRESS && !this.observability) this.observability = await startObservability(this, this.config.METRICS_ADDRESS);
    const started: ServiceContainer[] = [];
    try {
      for (const container of this.containers) {
        await container.start();
        started.push(container);
      }
    } catch (err) {
      await Promise.all(started.map((c) => c.kill()));
      await this.closeObservability();
      throw err;
    }
    this.observability?.started();
  }

  /** Graceful stop of every container, in parallel; readiness answers 503 `stopping` meanwhile. */
  async stop(): Promise<void> {
    this.observability?.stopping();
    try {
      await Promise.all(this.containers.map((c) => c.stop()));
    } finally {
      await this.closeObservability();
    }
  }

  private async closeObservability(): Promise<void> {
    const observability = this.observability;
    this.observability = null;
    await observability?.close();
  }

  /**
   * Forced stop of every container, in parallel: nothing more is answered, and requests
   * not yet acknowledged return to the queue for another instance.
   */
  async kill(): Promise<void> {
    this.observability?.stopping();
    try {
      await Promise.all(this.containers.map((c) => c.kill()));
    } finally {
      await this.closeObservability();
    }
  }

  /** Stop gracefully at the end of an `await using` scope, as `stop()` does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
