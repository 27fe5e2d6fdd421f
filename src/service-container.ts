// ServiceContainer: one service class, run. It is an extension host: it owns the
// service's dependency providers, the entrypoints its methods' decorators ask for (made
// through entrypoint.ts, whatever their kind: it imports none), its transport connection,
// and the path every call takes:
//
//   entrypoint takes a message -> spawnWorker() makes a WorkerContext -> dependencies are
//   injected into a fresh service instance -> workerSetup hooks -> the method runs (inline,
//   or in the worker pool for @cpuBound) -> the entrypoint answers (handleResult) ->
//   workerResult hooks -> workerTeardown hooks.
//
// Unlike nameko, an error thrown by a method is always logged with its stack here, with
// or without a logging dependency installed.

import type { Logger } from 'pino';
import type { EnokiConfig } from './config.js';
import { resolveConfig, type ConfigInput } from './config-input.js';
import type { DependencyProvider } from './dependency-provider.js';
import { createEntrypoints, type Entrypoint } from './entrypoint.js';
import { EnokiError } from './errors.js';
import type { ContainerState, ExtensionHost, SpawnOptions, WorkerOutcome } from './extension-host.js';
import { createLogger } from './logger.js';
import { acquireWatchdog, type WatchdogLease } from './loop-watchdog-lease.js';
import type { OffloadExecutor, OffloadHost } from './offload/offload-executor.js';
import { defineService, type MethodDefinition, type ServiceClass, type ServiceDefinition } from './service-definition.js';
import { createPoolExecutor } from './offload/pool-executor.js';
import { createTransport } from './transport/create-transport.js';
import type { Transport } from './transport/transport.js';
import { WorkerPath } from './worker-path.js';

export type { ContainerState, SpawnOptions, WorkerOutcome } from './extension-host.js';
export type { OffloadExecutor, OffloadRequest } from './offload/offload-executor.js';

/** Set on globalThis in worker-pool threads (workers/protocol.ts POOL_THREAD_MARK). */
const POOL_THREAD_MARK = Symbol.for('enoki.poolThread');

/** Options of a {@link ServiceContainer} (and, through ServiceRunner.add, of each service of a runner). */
export interface ContainerOptions {
  /**
   * A transport to use instead of one made from AMQP_URI (tests, shared connections).
   *
   * @internal
   */
  transport?: Transport;
  /** Logger for the container (it adds the service name); default: one made from the config's LOGGING. */
  logger?: Logger;
  /**
   * The module that exports the service class, for `@cpuBound` methods: pool threads
   * import it to get the class. `enoki run` sets it; programmatic users pass
   * `import.meta.url` of the service's file, or leave it out and let enoki find it from
   * where the class was decorated.
   */
  module?: string;
  /** The export name of the class in `module` (default: found by identity). */
  exportName?: string;
  /**
   * Provide an executor for `@cpuBound` methods (tests); default: the piscina pool.
   *
   * @internal
   */
  offload?: OffloadExecutor;
}

/**
 * One service class, run: the container owns the service's dependency providers, its
 * entrypoints (the RPC consumer, the `@http` routes), its broker connection, and the path
 * every call takes (a fresh service instance, injected dependencies, the worker hooks, one
 * of `max_workers` slots). Every error a method throws is logged with its stack, with or
 * without a logging dependency. A ServiceRunner makes one per service; make one directly
 * to run a single service, or in tests (enoki/testing's serviceFixtures).
 *
 * `S` is the service class's instance type. Nothing at run time uses it; it lets test
 * helpers (enoki/testing's entrypointHook) check method names and argument types.
 */
export class ServiceContainer<S = unknown> implements ExtensionHost {
  readonly definition: ServiceDefinition;
  /** The resolved config the service runs with. */
  readonly config: EnokiConfig;
  /** The container's logger: the given (or configured) one, with the service name bound. */
  readonly logger: Logger;
  /** The options the container was made with. */
  readonly options: ContainerOptions;
  /** Providers declared on the service, by field name. */
  readonly providers: ReadonlyMap<string, DependencyProvider>;
  private transportPromise: Promise<Transport> | null = null;
  /** The transport while its open() is still waiting for the broker. */
  private opening: Transport | null = null;
  private readonly workers: WorkerPath;
  private entrypoints: Entrypoint[] = [];
  private offload: Promise<OffloadExecutor> | null = null;
  /**
   * The loop watchdog's lease while running; the worker path reports methods to it.
   *
   * @internal
   */
  watchdog: WatchdogLease | null = null;
  private stateValue: ContainerState = 'created';
  private stopping: Promise<void> | null = null;
  private readonly shared = new Map<string, unknown>();

  constructor(cls: ServiceClass<S>, config?: ConfigInput, options: ContainerOptions = {}) {
    this.definition = defineService(cls);
    this.config = resolveConfig(config);
    this.options = options;
    this.logger = (options.logger ?? createLogger(this.config.LOGGING)).child({ service: this.definition.name });
    // The container's own provider instances come from one instance of the class; the
    // per-call instances' provider fields are overwritten with injected values.
    const probe = new cls() as Record<string, DependencyProvider>;
    const providers = new Map<string, DependencyProvider>();
    for (const name of this.definition.dependencyNames) {
      const provider = probe[name]!;
      provider.container = this;
      provider.attrName = name;
      providers.set(name, provider);
    }
    this.providers = providers;
    this.workers = new WorkerPath(this);
  }

  /** The service's name (its `static name`), which prefixes its RPC routing keys. */
  get serviceName(): string {
    return this.definition.name;
  }

  /** Where the container is in its life. */
  get state(): ContainerState {
    return this.stateValue;
  }

  /** Calls accepted and not finished: running, or waiting for one of max_workers slots. */
  get activeWorkers(): number {
    return this.workers.active;
  }

  /**
   * The container's broker connection, opened on first use.
   *
   * @internal
   */
  getTransport(): Promise<Transport> {
    if (!this.transportPromise) {
      const transport = this.options.transport ?? createTransport(this.config, `enoki ${this.serviceName}`, this.logger);
      this.opening = this.options.transport ? null : transport;
      const forget = (): void => {
        if (this.opening === transport) this.opening = null;
      };
      this.transportPromise = (this.options.transport ? Promise.resolve() : transport.open()).then(() => transport);
      this.transportPromise.then(forget, () => {
        forget();
        this.transportPromise = null;
      });
    }
    return this.transportPromise;
  }

  /**
   * The broker connection once one was asked for, else null; never opens one (readiness
   * and metrics read it: a service with only `@http` methods may have none).
   *
   * @internal
   */
  get openedTransport(): Promise<Transport> | null {
    return this.transportPromise;
  }

  /**
   * A per-container singleton shared by extensions (e.g. the one reply queue that all
   * RpcProxy fields of a service share), made on first request.
   */
  sharedExtension<T>(key: string, make: () => T): T {
    if (!this.shared.has(key)) this.shared.set(key, make());
    return this.shared.get(key) as T;
  }

  /**
   * Start the service: every provider's `setup()` then `start()`, the worker pool when a
   * method is `@cpuBound`, then the entrypoints, so calls arrive only once dependencies
   * are ready. If a step fails, the error is logged, the container is killed and the
   * error is rethrown. Needs a new or stopped container (else `ENOKI_ERR_CONTAINER_STATE`),
   * and is refused inside a worker-pool thread: a module that defines a `@cpuBound`
   * service must not start services when it is imported.
   */
  async start(): Promise<void> {
    if (this.stateValue !== 'created' && this.stateValue !== 'stopped') {
      throw new EnokiError('ENOKI_ERR_CONTAINER_STATE', [this.serviceName, this.stateValue, 'start() needs a new or stopped container']);
    }
    if ((globalThis as Record<symbol, unknown>)[POOL_THREAD_MARK]) {
      // Pool threads import the module that defines a @cpuBound service. If that module
      // also starts services at import time, every thread would open its own connection.
      throw new EnokiError('ENOKI_ERR_CONTAINER_STATE', [
        this.serviceName,
        'being imported by a worker-pool thread',
        'a module that defines a @cpuBound service must not start services when imported; move the start code to another file, or guard it with `if (isMainThread)` from node:worker_threads',
      ]);
    }
    this.stateValue = 'starting';
    try {
      // Read at start: replaceDependencies may have swapped providers since construction.
      this.workers.errorsLoggedByProvider = [...this.providers.values()].some((p) => p.logsWorkerErrors);
      for (const provider of this.providers.values()) await provider.setup();
      for (const provider of this.providers.values()) await provider.start();
      if ([...this.definition.methods.values()].some((m) => m.cpuBound)) await this.getOffload();
      for (const m of this.definition.methods.values()) {
        if (m.batched && m.batched.maxBatch > this.config.max_workers) {
          // Info, not a warning: the example runs this way on the default config on purpose.
          this.logger.info(
            `${this.serviceName}.${m.methodName}: batches hold at most max_workers (${this.config.max_workers}) calls, not maxBatch (${m.batched.maxBatch}): each call keeps its worker slot while it waits; raise max_workers for larger batches`,
          );
        }
      }
      this.entrypoints = await createEntrypoints(this, this.definition.methods.values());
      for (const entrypoint of this.entrypoints) await entrypoint.setup?.();
      for (const entrypoint of this.entrypoints) await entrypoint.start();
      const heartbeat = this.config.HEARTBEAT > 0 ? this.config.HEARTBEAT : 60;
      this.watchdog = acquireWatchdog((heartbeat * 1000) / 4, this.logger);
    } catch (err) {
      // Killed while starting (a signal during the wait for the broker) is not a failure.
      if (this.stateValue === 'starting') this.logger.error({ err }, 'service failed to start');
      await this.kill();
      throw err;
    }
    this.stateValue = 'running';
    this.logger.info(
      { entrypoints: [...this.definition.methods.values()].map((m) => `${m.methodName}: ${m.entrypoints.map((e) => e.kind.name).join(', ')}`), uri: (await this.peekTransport())?.displayUri },
      `service ${this.serviceName} started`,
    );
  }

  private async peekTransport(): Promise<Transport | undefined> {
    return this.transportPromise ? this.transportPromise.catch(() => undefined) : undefined;
  }

  /**
   * Graceful stop: entrypoints stop taking calls, calls in flight finish and are answered
   * (their requests acknowledged), then providers stop and the connection closes.
   */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped' || this.stateValue === 'killed' || this.stateValue === 'created') {
      this.stateValue = this.stateValue === 'created' ? 'stopped' : this.stateValue;
      return;
    }
    // A second stop() while one runs (a runner and a test both stopping) waits for the
    // first instead of stopping every provider and closing the transport twice.
    this.stopping ??= this.shutdown().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.stateValue = 'stopping';
    await this.abandonOpening();
    // Every entrypoint stops taking calls at once. Some also wait for the calls they
    // already took (the HTTP server, for its open responses), so they are awaited only
    // after the workers: the pool's grace period below must run meanwhile, or a task past
    // it would never be aborted and its response would hold the stop forever.
    const entrypointsStopped = Promise.all(
      this.entrypoints.map((entrypoint) =>
        Promise.resolve()
          .then(() => entrypoint.stop())
          .catch((err) => this.logger.warn({ err }, 'entrypoint stop failed')),
      ),
    );
    const graceMs = this.config.POOL.shutdownGrace * 1000;
    // Inputs waiting for a batch to fill run now: no more calls are coming to fill it.
    this.workers.flushBatches();
    const workersDone = this.workers.idle();
    // Replies are confirmed after their worker is done (the RPC entrypoint's stop waits for
    // them), so the guard watches the entrypoints too.
    const brokerGuard = this.dropRepliesIfBrokerStaysDown(
      Promise.all([workersDone, entrypointsStopped]).then(() => undefined),
      graceMs,
    );
    if (this.offload) {
      const offload = await this.offload.catch(() => undefined);
      // Pool tasks get the grace period; past it they are aborted and handed back
      // unanswered (an RPC request is requeued, an HTTP request gets 503).
      await Promise.all([offload?.close(true, graceMs), workersDone, brokerGuard]);
      // A closed executor takes no more calls; a restart gets a new one.
      this.offload = null;
    } else {
      await Promise.all([workersDone, brokerGuard]);
    }
    await entrypointsStopped;
    // kill() ran while we waited (a stop that took too long): it released everything
    // already, and the container must stay 'killed', its providers not stopped after kill.
    if (this.state === 'killed') return;
    for (const provider of [...this.providers.values()].reverse()) {
      await Promise.resolve()
        .then(() => provider.stop())
        .catch((err) => this.logger.warn({ err, dependency: provider.attrName }, 'dependency stop failed'));
    }
    await this.closeTransport();
    this.watchdog?.release();
    this.watchdog = null;
    this.stateValue = 'stopped';
    this.logger.info(`service ${this.serviceName} stopped`);
  }

  /** Forced stop: nothing more is answered; unacknowledged requests return to the queue. */
  async kill(): Promise<void> {
    if (this.stateValue === 'killed') return;
    this.stateValue = 'killed';
    for (const entrypoint of this.entrypoints) {
      await Promise.resolve()
        .then(() => (entrypoint.kill ? entrypoint.kill() : entrypoint.stop()))
        .catch((err) => this.logger.warn({ err }, 'entrypoint kill failed'));
    }
    await this.closeTransport();
    if (this.offload) await (await this.offload.catch(() => undefined))?.close(false, 0);
    this.offload = null;
    for (const provider of this.providers.values()) {
      await Promise.resolve()
        .then(() => provider.kill())
        .catch((err) => this.logger.warn({ err, dependency: provider.attrName }, 'dependency kill failed'));
    }
    this.watchdog?.release();
    this.watchdog = null;
  }

  /**
   * A stop or kill while open() waits for the broker (STARTUP_TIMEOUT) ends that wait
   * rather than sitting it out: nothing has been consumed yet, so nothing is lost.
   */
  private async abandonOpening(): Promise<void> {
    const opening = this.opening;
    this.opening = null;
    if (opening) await opening.close();
  }

  private async closeTransport(): Promise<void> {
    await this.abandonOpening();
    const transport = await this.peekTransport();
    this.transportPromise = null;
    // A transport handed in by the caller belongs to the caller.
    if (transport && !this.options.transport) await transport.close();
  }

  /**
   * While a stop waits for its calls, their replies wait for the broker connection. If the
   * broker stays unreachable for the grace period, waiting longer helps no one: the broker
   * requeued every unacknowledged request when the connection went, for another instance
   * to answer. So the connection is closed, the replies waiting for it are dropped (each
   * logged), and the stop goes on. A transport handed in by the caller is the caller's.
   */
  private async dropRepliesIfBrokerStaysDown(callsDone: Promise<void>, graceMs: number): Promise<void> {
    const transport = this.options.transport ? undefined : await this.peekTransport();
    if (!transport) return;
    let finished = false;
    void callsDone.then(() => (finished = true));
    let downSince: number | undefined;
    while (!finished) {
      if (transport.connected) downSince = undefined;
      else downSince ??= Date.now();
      const downMs = downSince === undefined ? 0 : Date.now() - downSince;
      if (downSince !== undefined && downMs >= graceMs) {
        this.logger.warn(
          { uri: transport.displayUri, downMs, calls: this.workers.active },
          `the broker has been unreachable for ${Math.round(downMs / 1000)} s while stopping; closing the connection: replies not sent yet are dropped, and their requests, requeued by the broker when the connection went, will be answered by another instance`,
        );
        await this.closeTransport();
        return;
      }
      await Promise.race([callsDone, new Promise((resolve) => setTimeout(resolve, BROKER_CHECK_MS).unref())]);
    }
  }

  /**
   * The executor for `@cpuBound` methods, made on first use (the worker path calls it).
   *
   * @internal
   */
  getOffload(): Promise<OffloadExecutor> {
    if (!this.offload) {
      this.offload = this.options.offload
        ? Promise.resolve(this.options.offload)
        : Promise.resolve().then(() => createPoolExecutor(this));
    }
    return this.offload;
  }

  /**
   * Observe every call once it is over (after workerTeardown), whatever its entrypoint.
   * For tests (enoki/testing's entrypointWaiter) and metrics; a listener that throws is
   * logged and does not affect the call. Returns the function that removes the listener.
   */
  onWorkerDone(listener: (outcome: WorkerOutcome) => void): () => void {
    return this.workers.onDone(listener);
  }

  /**
   * Run one call through the worker path (worker-path.ts). Resolves with the outcome;
   * never rejects because the method threw (that is `outcome.error`).
   */
  spawnWorker(method: MethodDefinition, args: unknown[], options: SpawnOptions): Promise<WorkerOutcome> {
    return this.workers.spawn(method, args, options);
  }
}

/** How often a stop checks whether the broker connection is back (see dropRepliesIfBrokerStaysDown). */
const BROKER_CHECK_MS = 250;
