// ServiceRunner: several services in one process (nameko's ServiceRunner), each in its
// own container with its own connection, started together and stopped together.

import type { Logger } from 'pino';
import type { EnokiConfig } from './config.js';
import { resolveConfig, type ConfigInput } from './config-input.js';
import { createLogger } from './logger.js';
import { ServiceContainer, type ContainerOptions } from './service-container.js';
import { EnokiError } from './errors.js';
import { hasEntrypoints, type ServiceClass } from './service-definition.js';

export interface RunnerServiceOptions extends ContainerOptions {
  /** This service's own config; default: the runner's. */
  config?: ConfigInput;
}

export class ServiceRunner {
  readonly containers: ServiceContainer[] = [];
  readonly config: EnokiConfig;
  readonly logger: Logger;

  constructor(config?: ConfigInput, options: { logger?: Logger } = {}) {
    this.config = resolveConfig(config);
    this.logger = options.logger ?? createLogger(this.config.LOGGING);
  }

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

  /** Start every container; if one fails, the ones already started are killed. */
  async start(): Promise<void> {
    const started: ServiceContainer[] = [];
    try {
      for (const container of this.containers) {
        await container.start();
        started.push(container);
      }
    } catch (err) {
      await Promise.all(started.map((c) => c.kill()));
      throw err;
    }
  }

  /** Graceful stop of every container, in parallel. */
  async stop(): Promise<void> {
    await Promise.all(this.containers.map((c) => c.stop()));
  }

  async kill(): Promise<void> {
    await Promise.all(this.containers.map((c) => c.kill()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
