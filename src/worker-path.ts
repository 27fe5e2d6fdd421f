// The worker path: one call, from the entrypoint's spawnWorker to its outcome.
//
//   a max_workers slot -> a WorkerContext -> getDependency of every provider -> workerSetup
//   hooks -> the method (inline, or through the offload executor for @cpuBound) ->
//   the entrypoint's handleResult -> workerResult hooks -> workerTeardown hooks -> the
//   slot is released -> onDone listeners.
//
// The container owns one WorkerPath; every entrypoint kind goes through it, so hooks,
// max_workers and @cpuBound hold for RPC, HTTP, events, timers and user-written kinds alike.

import type { Logger } from 'pino';
import { Batcher } from './batching.js';
import type { EnokiConfig } from './config.js';
import type { DependencyProvider } from './dependency-provider.js';
import { CallAbandoned, ExpectedError } from './errors.js';
import type { SpawnOptions, WorkerOutcome } from './extension-host.js';
import type { WatchdogLease } from './loop-watchdog-lease.js';
import type { OffloadExecutor } from './offload/offload-executor.js';
import type { MethodDefinition, ServiceDefinition } from './service-definition.js';
import { Semaphore } from './semaphore.js';
import { toError } from './thrown-values.js';
import { bindCallSpan, traceLogFields, traceCall } from './tracing/call-span.js';
import { tracingOn } from './tracing/otel.js';
import type { Span } from '@opentelemetry/api';
import { WorkerContext, type WorkerContextInit } from './worker-context.js';

/** What a batch runs with: the context and dependencies of its first call. */
interface BatchContext {
  ctx: WorkerContext;
  dependencies: Record<string, unknown>;
}

/** What the worker path reads from its container, at each call (providers can be replaced in tests). */
export interface WorkerPathHost {
  readonly serviceName: string;
  readonly definition: ServiceDefinition;
  readonly config: EnokiConfig;
  readonly logger: Logger;
  readonly providers: ReadonlyMap<string, DependencyProvider>;
  readonly watchdog: WatchdogLease | null;
  getOffload(): Promise<OffloadExecutor>;
}

/** A method's parameter names and sensitive paths, made once per method (not per call). */
const sensitiveByMethod = new WeakMap<MethodDefinition, NonNullable<WorkerContextInit['sensitive']>>();
function sensitiveOf(method: MethodDefinition): NonNullable<WorkerContextInit['sensitive']> {
  let sensitive = sensitiveByMethod.get(method);
  if (!sensitive) {
    sensitive = { params: method.signature.params.map((p) => p.name ?? ''), paths: method.sensitiveArguments ?? [] };
    sensitiveByMethod.set(method, sensitive);
  }
  return sensitive;
}

export class WorkerPath {
  private readonly slots: Semaphore;
  /** Calls accepted and not finished (running, or waiting for a slot). */
  active = 0;
  /** Resolvers waiting for `active` to reach 0 (a graceful stop). */
  private idleWaiters: Array<() => void> = [];
  /** A provider logs method errors with their stacks (see DependencyProvider.logsWorkerErrors); set at start. */
  errorsLoggedByProvider = false;
  private readonly workerDoneListeners = new Set<(outcome: WorkerOutcome) => void>();
  private readonly batchers = new Map<string, Batcher<BatchContext>>();

  constructor(private readonly host: WorkerPathHost) {
    this.slots = new Semaphore(host.config.max_workers);
  }

  /** Resolves when no call is in flight (a graceful stop waits for this). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private workerFinished(): void {
    if (--this.active > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Observe every call once it is over (after workerTeardown), whatever its entrypoint.
   * For tests (enoki/testing's entrypointWaiter) and metrics; a listener that throws is
   * logged and does not affect the call. Returns the function that removes the listener.
   */
  onDone(listener: (outcome: WorkerOutcome) => void): () => void {
    this.workerDoneListeners.add(listener);
    return () => {
      this.workerDoneListeners.delete(listener);
    };
  }

  /**
   * Run one call through the worker path. Resolves with the outcome; never rejects
   * because the method threw (that is `outcome.error`).
   */
  spawn(method: MethodDefinition, args: unknown[], options: SpawnOptions): Promise<WorkerOutcome> {
    // Counted from before a slot is free: a graceful stop must also wait for a call that
    // was accepted (an HTTP request, a direct call) but is still queued for a slot.
    this.active++;
    // Traced, the whole call (its wait for a slot too) runs inside its span.
    if (tracingOn()) return traceCall(this.host.serviceName, method.methodName, options, (span) => this.startWorker(method, args, options, span));
    return this.startWorker(method, args, options, undefined);
  }

  private startWorker(method: MethodDefinition, args: unknown[], options: SpawnOptions, span: Span | undefined): Promise<WorkerOutcome> {
    // The hot path is one async function deep: no wrapper per layer (each costs a promise
    // and a microtask per call, measured in bench/http.ts).
    const release = this.slots.tryAcquire();
    return release ? this.runWorker(release, method, args, options, span) : this.runQueued(method, args, options, span);
  }

  private async runQueued(method: MethodDefinition, args: unknown[], options: SpawnOptions, span: Span | undefined): Promise<WorkerOutcome> {
    // Only a call that had to queue reads the clock: the hot path stays as it was.
    const queuedAt = performance.now();
    const release = await this.slots.acquire();
    return this.runWorker(release, method, args, options, span, performance.now() - queuedAt);
  }

  /** One call, from its slot (`release`) to onWorkerDone; releases the slot when done. */
  private async runWorker(release: () => void, method: MethodDefinition, args: unknown[], options: SpawnOptions, span: Span | undefined, slotWaitMs = 0): Promise<WorkerOutcome> {
    const ctx = new WorkerContext({
      serviceName: this.host.serviceName,
      methodName: method.methodName,
      entrypoint: options.entrypoint,
      args,
      contextData: options.contextData,
      parentCallIdStack: options.parentCallIdStack,
      parentCallsTracked: this.host.config.parent_calls_tracked,
      sensitive: method.sensitiveArguments ? sensitiveOf(method) : undefined,
    });
    if (span) bindCallSpan(ctx, span);
    let result: unknown;
    let error: Error | undefined;
    try {
      // Shared and never written when there are no providers: one object less per call.
      const dependencies: Record<string, unknown> = this.host.providers.size === 0 ? NO_DEPENDENCIES : {};
      for (const [name, provider] of this.host.providers) dependencies[name] = provider.getDependency(ctx);
      const setup = this.runHooks('workerSetup', (p) => p.workerSetup(ctx));
      if (setup) await setup;
      try {
        const returned = this.invoke(ctx, method, args, dependencies);
        // A synchronous method's value is used as it is: no microtask for it.
        result = isThenable(returned) ? await returned : returned;
      } catch (err) {
        error = toError(err);
        if (error instanceof CallAbandoned) {
          this.host.logger.warn({ call: ctx.callId, ...traceLogFields(ctx) }, `${error.message}; not answered, handed back (an RPC request is requeued, an HTTP request gets 503)`);
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
          this.host.logger.error({ err, call: ctx.callId }, `could not answer ${this.host.serviceName}.${method.methodName}`);
        }
      }
      const resultHooks = this.runHooks('workerResult', (p) => p.workerResult(ctx, result, error));
      if (resultHooks) await resultHooks;
    } catch (err) {
      // getDependency threw: the method never ran; answer with that error.
      error = toError(err);
      this.host.logger.error({ err: error, call: ctx.callId, args: ctx.redactedArgs, ...traceLogFields(ctx) }, `dependency injection failed for ${this.host.serviceName}.${method.methodName}`);
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
    const outcome: WorkerOutcome = { ctx, result, error, slotWaitMs: options.waitedMs === undefined ? slotWaitMs : slotWaitMs + options.waitedMs };
    for (const listener of this.workerDoneListeners) {
      try {
        listener(outcome);
      } catch (err) {
        this.host.logger.error({ err, call: ctx.callId }, 'an onWorkerDone listener threw');
      }
    }
    return outcome;
  }

  /**
   * The method's return value, or a promise of it; throws what a synchronous method throws.
   * A `@batched` call hands its input to the method's batcher and waits for its element.
   */
  private invoke(ctx: WorkerContext, method: MethodDefinition, args: unknown[], dependencies: Record<string, unknown>): unknown {
    if (method.batched) return this.batcherFor(method).add(args[0], { ctx, dependencies });
    return this.execute(ctx, method, args, dependencies);
  }

  /** The batcher of a `@batched` method; a batch executes once, with its first call's context. */
  private batcherFor(method: MethodDefinition): Batcher<BatchContext> {
    let batcher = this.batchers.get(method.methodName);
    if (!batcher) {
      batcher = new Batcher<BatchContext>(`${this.host.serviceName}.${method.methodName}`, method.batched!, (inputs, { ctx, dependencies }) =>
        this.execute(ctx, method, [inputs], dependencies),
      );
      this.batchers.set(method.methodName, batcher);
    }
    return batcher;
  }

  /** Runs what `@batched` methods hold: at a stop, no more calls are coming to fill a batch. */
  flushBatches(): void {
    for (const batcher of this.batchers.values()) batcher.flush();
  }

  /** Runs the method once: in the pool for `@cpuBound`, else inline on a fresh instance. */
  private execute(ctx: WorkerContext, method: MethodDefinition, args: unknown[], dependencies: Record<string, unknown>): unknown {
    if (method.cpuBound) return this.host.getOffload().then((offload) => offload.run({ ctx, method, args, dependencies }));
    const instance = new this.host.definition.cls() as Record<string, unknown>;
    if (dependencies !== NO_DEPENDENCIES) Object.assign(instance, dependencies);
    const exit = this.host.watchdog?.enter(this.host.serviceName, method.methodName);
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
    const where = `${this.host.serviceName}.${method.methodName}`;
    if (error instanceof ExpectedError || method.expected?.some((cls) => error instanceof cls)) {
      this.host.logger.warn({ call: ctx.callId, args: ctx.redactedArgs, error: `${error.name}: ${error.message}`, ...traceLogFields(ctx) }, `${where} raised an expected error`);
    } else {
      // The arguments help find the cause; sensitiveArguments are masked in them.
      this.host.logger.error({ err: error, call: ctx.callId, args: ctx.redactedArgs, ...traceLogFields(ctx) }, `${where} raised ${error.name}: ${error.message}`);
    }
  }

  private runHooks(hook: string, call: (provider: DependencyProvider) => void | Promise<void>): Promise<void> | undefined {
    // Hot path: a service without providers pays no async call per hook (about 2 µs a
    // call over three hooks, measured in bench/http.ts).
    return this.host.providers.size === 0 ? undefined : this.runEachHook(hook, call);
  }

  private async runEachHook(hook: string, call: (provider: DependencyProvider) => void | Promise<void>): Promise<void> {
    for (const provider of this.host.providers.values()) {
      try {
        await call(provider);
      } catch (err) {
        this.host.logger.error({ err, dependency: provider.attrName }, `${hook} of dependency ${provider.attrName} failed`);
      }
    }
  }
}

const NO_DEPENDENCIES: Record<string, unknown> = Object.freeze({});

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}
