// ServiceContainer: one service class, run. It owns the service's dependency providers,
// its entrypoints (the RPC consumer, HTTP routes), its transport connection, and the
// path every call takes:
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
import { CallAbandoned, EnokiError, ExpectedError } from './errors.js';
import { createLogger } from './logger.js';
import { acquireWatchdog, type WatchdogLease } from './loop-watchdog-lease.js';
import type { ContextData } from './rpc/wire.js';
import { defineService, type MethodDefinition, type ServiceClass, type ServiceDefinition } from './service-definition.js';
import { Batcher } from './batching.js';
import { createPoolExecutor } from './offload/pool-executor.js';
import { RpcConsumer } from './rpc/rpc-consumer.js';
import { Semaphore } from './semaphore.js';
import { toError } from './thrown-values.js';
import { createTransport } from './transport/create-transport.js';
import type { Transport } from './transport/transport.js';
import { WorkerContext, type EntrypointKind } from './worker-context.js';

/** Something that delivers calls into the container: the RPC consumer, the HTTP server. */
export interface Entrypoint {
  /** Begin taking calls. */
  start(): Promise<void>;
  /** Stop taking new calls; calls already taken are finished by the container. */
  stop(): Promise<void>;
  /** Forced stop, instead of stop(): release what it holds (sockets, ports) at once. */
  kill?(): Promise<void>;
}

/** Runs a `@cpuBound` method somewhere other than the main event loop. */
export interface OffloadExecutor {
  run(request: OffloadRequest): Promise<unknown>;
  /** Graceful: let running tasks finish (up to graceMs). Otherwise abort them now. */
  close(graceful: boolean, graceMs: number): Promise<void>;
}

export interface OffloadRequest {
  ctx: WorkerContext;
  method: MethodDefinition;
  args: unknown[];
  /** What each dependency field holds for this call, by field name. */
  dependencies: Record<string, unknown>;
}

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
 * How one call ended, as {@link ServiceContainer.onWorkerDone} listeners and enoki/testing's
 * entrypointWaiter see it, once its teardown hooks have run.
 */
export interface WorkerOutcome {
  /** The call's worker context. */
  ctx: WorkerContext;
  /** What the method returned (undefined when it threw). */
  result: unknown;
  /** What the method threw (or the error that kept it from running, such as a failed getDependency); undefined on success. */
  error: Error | undefined;
}

export interface SpawnOptions {
  entrypoint: EntrypointKind;
  contextData?: ContextData;
  parentCallIdStack?: readonly string[];
  /** The entrypoint's answer (reply, HTTP response), run before workerResult hooks. */
  handleResult?: (ctx: WorkerContext, result: unknown, error: Error | undefined) => Promise<void> | void;
}

/**
 * Where a {@link ServiceContainer} is in its life: `'created'`, `'starting'`, `'running'`,
 * `'stopping'`, `'stopped'` (after a graceful stop; it can be started again), or
 * `'killed'` (after a forced stop).
 */
export type ContainerState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'killed';

type EntrypointFactory = (container: ServiceContainer) => Entrypoint | undefined;
const entrypointFactories: EntrypointFactory[] = [];

/**
 * Entrypoint kinds beyond RPC (HTTP) register here when their module is loaded, so a
 * service without HTTP never loads the web server.
 */
export function registerEntrypointFactory(factory: EntrypointFactory): void {
  entrypointFactories.push(factory);
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
export class ServiceContainer<S = unknown> {
  /**
   * What was read from the service class: its name, entrypoints and dependency fields.
   *
   * @internal
   */
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
  private readonly slots: Semaphore;
  /** Calls accepted and not finished (running, or waiting for a slot). */
  private active = 0;
  /** Resolvers waiting for `active` to reach 0 (a graceful stop). */
  private idleWaiters: Array<() => void> = [];
  private entrypoints: Entrypoint[] = [];
  private offload: Promise<OffloadExecutor> | null = null;
  private watchdog: WatchdogLease | null = null;
  private stateValue: ContainerState = 'created';
  private stopping: Promise<void> | null = null;
  private readonly shared = new Map<string, unknown>();
  /** A provider logs method errors with their stacks (see DependencyProvider.logsWorkerErrors). */
  private errorsLoggedByProvider = false;
  private readonly workerDoneListeners = new Set<(outcome: WorkerOutcome) => void>();
  private readonly batchers = new Map<string, Batcher<{ ctx: WorkerContext; dependencies: Record<string, unknown> }>>();

  constructor(cls: ServiceClass<S>, config?: ConfigInput, options: ContainerOptions = {}) {
    this.definition = defineService(cls);
    this.config = resolveConfig(config);
    this.options = options;
    this.logger = (options.logger ?? createLogger(this.config.LOGGING)).child({ service: this.definition.name });
    this.slots = new Semaphore(this.config.max_workers);
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
    return this.active;
  }

  /**
   * The container's broker connection, opened on first use.
   *
   * @internal
   */
  getTransport(): Promise<Transport> {
    if (!this.transportPromise) {
      const transport = this.options.transport ?? createTransport(this.config, `enoki ${this.serviceName}`, this.logger);
      this.transportPromise = (this.options.transport ? Promise.resolve() : transport.open()).then(() => transport);
      this.transportPromise.catch(() => {
        this.transportPromise = null;
      });
    }
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
      this.errorsLoggedByProvider = [...this.providers.values()].some((p) => p.logsWorkerErrors);
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
      this.entrypoints = [
        ...(this.definition.rpcMethods.size > 0 ? [new RpcConsumer(this)] : []),
        ...entrypointFactories.map((make) => make(this)).filter((e): e is Entrypoint => e !== undefined),
      ];
      for (const entrypoint of this.entrypoints) await entrypoint.start();
      const heartbeat = this.config.HEARTBEAT > 0 ? this.config.HEARTBEAT : 60;
      this.watchdog = acquireWatchdog((heartbeat * 1000) / 4, this.logger);
    } catch (err) {
      this.logger.error({ err }, 'service failed to start');
      await this.kill();
      throw err;
    }
    this.stateValue = 'running';
    this.logger.info(
      { rpc: [...this.definition.rpcMethods.keys()], uri: (await this.peekTransport())?.displayUri },
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
    // Every entrypoint stops taking calls at once. Some also wait for the calls they
    // already took (the HTTP server, for its open responses), so they are awaited only
    // after the workers: the pool's grace period below must run meanwhile, or a task past
    // it would never be aborted and its response would hold the stop forever.
    const entrypointsStopped = Promise.all(
      this.entrypoints.map((entrypoint) => entrypoint.stop().catch((err) => this.logger.warn({ err }, 'entrypoint stop failed'))),
    );
    // Inputs waiting for a batch to fill run now: no more calls are coming to fill it.
    for (const batcher of this.batchers.values()) batcher.flush();
    const graceMs = this.config.POOL.shutdownGrace * 1000;
    const workersDone = this.waitForWorkers();
    const brokerGuard = this.dropRepliesIfBrokerStaysDown(workersDone, graceMs);
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
    for (const entrypoint of this.entrypoints) await entrypoint.kill?.().catch((err) => this.logger.warn({ err }, 'entrypoint kill failed'));
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

  private async closeTransport(): Promise<void> {
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
  private async dropRepliesIfBrokerStaysDown(workersDone: Promise<void>, graceMs: number): Promise<void> {
    const transport = this.options.transport ? undefined : await this.peekTransport();
    if (!transport) return;
    let finished = false;
    void workersDone.then(() => (finished = true));
    let downSince: number | undefined;
    while (!finished) {
      if (transport.connected) downSince = undefined;
      else downSince ??= Date.now();
      const downMs = downSince === undefined ? 0 : Date.now() - downSince;
      if (downSince !== undefined && downMs >= graceMs) {
        this.logger.warn(
          { uri: transport.displayUri, downMs, calls: this.active },
          `the broker has been unreachable for ${Math.round(downMs / 1000)} s while stopping; closing the connection: replies not sent yet are dropped, and their requests, requeued by the broker when the connection went, will be answered by another instance`,
        );
        await this.closeTransport();
        return;
      }
      await Promise.race([workersDone, new Promise((resolve) => setTimeout(resolve, BROKER_CHECK_MS).unref())]);
    }
  }

  private waitForWorkers(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private workerFinished(): void {
    if (--this.active > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private getOffload(): Promise<OffloadExecutor> {
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
    this.workerDoneListeners.add(listener);
    return () => {
      this.workerDoneListeners.delete(listener);
    };
  }

  /**
   * Run one call through the worker path. Resolves with the outcome; never rejects
   * because the method threw (that is `outcome.error`).
   *
   * @internal
   */
  spawnWorker(method: MethodDefinition, args: unknown[], options: SpawnOptions): Promise<WorkerOutcome> {
    // Counted from before a slot is free: a graceful stop must also wait for a call that
    // was accepted (an HTTP request, a direct call) but is still queued for a slot.
    this.active++;
    // The hot path is one async function deep: no wrapper per layer (each costs a promise
    // and a microtask per call, measured in bench/http.ts).
    const release = this.slots.tryAcquire();
    return release ? this.runWorker(release, method, args, options) : this.runQueued(method, args, options);
  }

  private async runQueued(method: MethodDefinition, args: unknown[], options: SpawnOptions): Promise<WorkerOutcome> {
    return this.runWorker(await this.slots.acquire(), method, args, options);
  }

  /** One call, from its slot (`release`) to onWorkerDone; releases the slot when done. */
  private async runWorker(release: () => void, method: MethodDefinition, args: unknown[], options: SpawnOptions): Promise<WorkerOutcome> {
    const ctx = new WorkerContext({
      serviceName: this.serviceName,
      methodName: method.methodName,
      entrypoint: options.entrypoint,
      args,
      contextData: options.contextData,
      parentCallIdStack: options.parentCallIdStack,
      parentCallsTracked: this.config.parent_calls_tracked,
    });
    let result: unknown;
    let error: Error | undefined;
    try {
      // Shared and never written when there are no providers: one object less per call.
      const dependencies: Record<string, unknown> = this.providers.size === 0 ? NO_DEPENDENCIES : {};
      for (const [name, provider] of this.providers) dependencies[name] = provider.getDependency(ctx);
      const setup = this.runHooks('workerSetup', (p) => p.workerSetup(ctx));
      if (setup) await setup;
      try {
        const returned = this.invoke(ctx, method, args, dependencies);
        // A synchronous method's value is used as it is: no microtask for it.
        result = isThenable(returned) ? await returned : returned;
      } catch (err) {
        error = toError(err);
        if (error instanceof CallAbandoned) {
          this.logger.warn({ call: ctx.callId }, `${error.message}; not answered, handed back (an RPC request is requeued, an HTTP request gets 503)`);
        } else {
          if (!this.errorsLoggedByProvider) this.logMethodError(ctx, method, error);
        }
      }
      // An abandoned call reaches the entrypoint too, which answers "try elsewhere" (RPC:
      // requeue at once, for another instance; HTTP: 503), never with a result.
      if (options.handleResult) {
        try {
          const answered = options.handleResult(ctx, result, error);
          if (isThenable(answered)) await answered;
        } catch (err) {
          this.logger.error({ err, call: ctx.callId }, `could not answer ${this.serviceName}.${method.methodName}`);
        }
      }
      const resultHooks = this.runHooks('workerResult', (p) => p.workerResult(ctx, result, error));
      if (resultHooks) await resultHooks;
    } catch (err) {
      // getDependency threw: the method never ran; answer with that error.
      error = toError(err);
      this.logger.error({ err: error, call: ctx.callId }, `dependency injection failed for ${this.serviceName}.${method.methodName}`);
      if (options.handleResult) await Promise.resolve(options.handleResult(ctx, undefined, error)).catch(() => undefined);
    } finally {
      try {
        const teardown = this.runHooks('workerTeardown', (p) => p.workerTeardown(ctx));
        if (teardown) await teardown;
      } finally {
        release();
        this.workerFinished();
      }
    }
    const outcome: WorkerOutcome = { ctx, result, error };
    for (const listener of this.workerDoneListeners) {
      try {
        listener(outcome);
      } catch (err) {
        this.logger.error({ err, call: ctx.callId }, 'an onWorkerDone listener threw');
      }
    }
    return outcome;
  }

  /** The method's return value, or a promise of it; throws what a synchronous method throws. */
  private invoke(ctx: WorkerContext, method: MethodDefinition, args: unknown[], dependencies: Record<string, unknown>): unknown {
    if (method.batched) return this.batcherFor(method).add(args[0], { ctx, dependencies });
    return this.execute(ctx, method, args, dependencies);
  }

  /** The batcher of a `@batched` method; a batch executes once, with its first call's context. */
  private batcherFor(method: MethodDefinition): Batcher<{ ctx: WorkerContext; dependencies: Record<string, unknown> }> {
    let batcher = this.batchers.get(method.methodName);
    if (!batcher) {
      batcher = new Batcher(`${this.serviceName}.${method.methodName}`, method.batched!, (inputs, { ctx, dependencies }) =>
        this.execute(ctx, method, [inputs], dependencies),
      );
      this.batchers.set(method.methodName, batcher);
    }
    return batcher;
  }

  /** Runs the method once: in the pool for `@cpuBound`, else inline on a fresh instance. */
  private execute(ctx: WorkerContext, method: MethodDefinition, args: unknown[], dependencies: Record<string, unknown>): unknown {
    if (method.cpuBound) return this.getOffload().then((offload) => offload.run({ ctx, method, args, dependencies }));
    const instance = new this.definition.cls() as Record<string, unknown>;
    if (dependencies !== NO_DEPENDENCIES) Object.assign(instance, dependencies);
    const exit = this.watchdog?.enter(this.serviceName, method.methodName);
    let returned: unknown;
    try {
      returned = (instance[method.methodName] as (...a: unknown[]) => unknown)(...args);
    } catch (err) {
      exit?.();
      throw err;
    }
    if (!isThenable(returned)) {
      exit?.();
      return returned;
    }
    // An async method is running until its promise settles (the watchdog names it).
    return Promise.resolve(returned).finally(() => exit?.());
  }

  private logMethodError(ctx: WorkerContext, method: MethodDefinition, error: Error): void {
    const where = `${this.serviceName}.${method.methodName}`;
    if (error instanceof ExpectedError || method.expected?.some((cls) => error instanceof cls)) {
      this.logger.warn({ call: ctx.callId, error: `${error.name}: ${error.message}` }, `${where} raised an expected error`);
    } else {
      this.logger.error({ err: error, call: ctx.callId }, `${where} raised ${error.name}: ${error.message}`);
    }
  }

  private runHooks(hook: string, call: (provider: DependencyProvider) => void | Promise<void>): Promise<void> | undefined {
    // Hot path: a service without providers pays no async call per hook (about 2 µs a
    // call over three hooks, measured in bench/http.ts).
    return this.providers.size === 0 ? undefined : this.runEachHook(hook, call);
  }

  private async runEachHook(hook: string, call: (provider: DependencyProvider) => void | Promise<void>): Promise<void> {
    for (const provider of this.providers.values()) {
      try {
        await call(provider);
      } catch (err) {
        this.logger.error({ err, dependency: provider.attrName }, `${hook} of dependency ${provider.attrName} failed`);
      }
    }
  }
}

/** How often a stop checks whether the broker connection is back (see dropRepliesIfBrokerStaysDown). */
const BROKER_CHECK_MS = 250;

const NO_DEPENDENCIES: Record<string, unknown> = Object.freeze({});

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}
