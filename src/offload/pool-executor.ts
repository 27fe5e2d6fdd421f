// The container's OffloadExecutor: runs a service's @cpuBound methods in the process's
// worker-thread pool (shared-pool.ts), one executor per container.
//
// Per call, the main thread does only bookkeeping: split the dependencies into values and
// remotes, post one task (piscina clones the arguments), and take the outcome message.
// Everything that may cost time (importing the module, building the instance, the method)
// happens in the thread.
//
// Errors, each coded (src/errors.ts):
//   the method threw            -> the same error as inline (thread-error.ts), thread's stack
//   an argument cannot clone    -> ENOKI_ERR_NOT_CLONEABLE naming the argument
//   the result cannot clone     -> ENOKI_ERR_NOT_CLONEABLE naming "the result" (thread survives)
//   the thread died             -> ENOKI_ERR_WORKER_DIED; piscina starts a new thread
//   POOL.max_queue reached      -> ENOKI_ERR_POOL_FULL
//   @cpuBound({ timeout })      -> ENOKI_ERR_ABORTED; if it was running, its thread is ended
//   shutdown gave up on it      -> CallAbandoned: no reply, the request returns to the queue
// A call whose thread died is answered, not requeued: a request that kills its thread
// (out of memory, process.exit) would otherwise kill one thread after another forever.

import { EnokiError } from '../errors.js';
import { cloneFailureReason } from '../thrown-values.js';
import { CallAbandoned } from '../errors.js';
import type { OffloadExecutor, OffloadHost, OffloadRequest } from './offload-executor.js';
import type { MethodDefinition } from '../service-definition.js';
import { BATCH_ERROR_TAG, type CallTask, type Outcome, type ServiceRef, type TaskReturn, type ThreadError, type ThreadMessage, type WarmResult } from '../../workers/protocol.js';
import { DependencyBridge } from './dependency-bridge.js';
import { locateModule, moduleUrl } from './locate-module.js';
import { isPlainData } from './plain-data.js';
import { acquirePool, releasePool, type SharedPool } from './shared-pool.js';
import { rebuildThreadError } from './thread-error.js';
import { callContext } from '../tracing/call-span.js';
import { tracingOn } from '../tracing/otel.js';
import { ThreadSpan } from '../tracing/thread-span.js';
import type { Context } from '@opentelemetry/api';
import { emitObserved, observingPoolTasks } from '../observed-events.js';

let nextKey = 1;

class TimedOut {
  constructor(readonly ms: number) {}
}
class ShutDown {
  constructor(readonly reason: string) {}
}

/** Called by ServiceContainer when a service has `@cpuBound` methods: makes the executor that runs them in the shared pool. */
export async function createPoolExecutor(container: OffloadHost): Promise<OffloadExecutor> {
  const { definition, options } = container;
  const module = options.module !== undefined ? moduleUrl(options.module) : await locateModule(definition.cls);
  if (module === undefined) {
    throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [
      definition.name,
      'its @cpuBound methods run in pool threads, which import the class from its module, and the module could not be found; pass the container option `module: import.meta.url` from the file that exports the class',
    ]);
  }
  const ref: ServiceRef = { module, exportName: options.exportName, serviceName: definition.name };
  const pool = acquirePool(container.config.POOL, container.logger);
  const executor = new PoolExecutor(container, ref, pool);
  try {
    await executor.warm();
  } catch (err) {
    await releasePool(pool);
    throw err;
  }
  return executor;
}

class PoolExecutor implements OffloadExecutor {
  private readonly calls = new Set<PoolCall>();
  private closing: Promise<void> | null = null;
  private abandoning: string | null = null;

  constructor(
    private readonly container: OffloadHost,
    private readonly ref: ServiceRef,
    private readonly pool: SharedPool,
  ) {}

  /**
   * Import the service's module in a thread now, so that a module that fails to load in a
   * thread fails the container's start, and the first call finds a warm thread.
   */
  async warm(): Promise<void> {
    const methods = [...this.container.definition.methods.values()].filter((m) => m.cpuBound).map((m) => m.methodName);
    const controller = new AbortController();
    const failed = this.pool.nextError();
    let outcome: TaskReturn;
    try {
      outcome = await Promise.race([this.pool.run({ kind: 'warm', ...this.ref, methods }, controller.signal), failed.promise]);
    } catch (err) {
      controller.abort();
      throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [this.ref.serviceName, `its worker-pool thread failed to start: ${(err as Error).message}`], { cause: err });
    } finally {
      failed.cancel();
    }
    if (!outcome) throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [this.ref.serviceName, 'its worker-pool thread returned nothing when loading it']);
    if (!outcome.ok) throw rebuildThreadError(outcome.error);
    const warm = outcome.value as WarmResult;
    this.container.logger.debug(
      { module: this.ref.module, thread: warm.threadId, importMs: Math.round(warm.importMs) },
      `worker pool ready for ${this.ref.serviceName}`,
    );
  }

  async run(request: OffloadRequest): Promise<unknown> {
    const where = `${this.ref.serviceName}.${request.method.methodName}`;
    if (this.abandoning !== null) throw new CallAbandoned(where, this.abandoning);
    if (this.pool.full) throw new EnokiError('ENOKI_ERR_POOL_FULL', [where, this.pool.waiting]);
    const call = new PoolCall(this.pool, this.ref, request, where);
    this.calls.add(call);
    try {
      return await call.result;
    } finally {
      this.calls.delete(call);
    }
  }

  close(graceful: boolean, graceMs: number): Promise<void> {
    this.closing ??= this.shutDown(graceful, graceMs);
    return this.closing;
  }

  private async shutDown(graceful: boolean, graceMs: number): Promise<void> {
    if (graceful) {
      // Calls may still arrive during the grace period (a call that was past its hooks
      // when the consumer stopped): they are waited for too.
      const deadline = performance.now() + graceMs;
      while (this.calls.size > 0) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.race([...this.calls].map((c) => c.settled)),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, left);
          }),
        ]);
        clearTimeout(timer);
      }
    }
    this.abandoning = graceful
      ? `the service stopped and it was still running after POOL.shutdown_grace (${graceMs / 1000} s)`
      : 'the service was killed';
    for (const call of this.calls) call.abandon(this.abandoning);
    await Promise.all([...this.calls].map((c) => c.settled));
    await releasePool(this.pool);
  }
}

/** One call's life on the main thread: from posting the task to its outcome. */
class PoolCall {
  readonly result: Promise<unknown>;
  /** Resolves when the call is over, however it ended. */
  readonly settled: Promise<void>;
  private readonly key = nextKey++;
  private readonly controller = new AbortController();
  private readonly method: MethodDefinition;
  private resolve!: (value: unknown) => void;
  private reject!: (err: Error) => void;
  private done = false;
  private started = false;
  /** performance.now() when the task was posted, and when its thread reported its start (metrics). */
  private readonly postedAt: number | undefined;
  private startedAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private bridge: DependencyBridge | null = null;
  /** The call's trace context, when traced; its thread span once the thread started it. */
  private readonly traceParent: Context | undefined;
  private threadSpan: ThreadSpan | null = null;

  constructor(
    private readonly pool: SharedPool,
    ref: ServiceRef,
    private readonly request: OffloadRequest,
    private readonly where: string,
  ) {
    this.method = request.method;
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.settled = this.result.then(
      () => undefined,
      () => undefined,
    );

    const values: Record<string, unknown> = {};
    const remotes: string[] = [];
    for (const [name, value] of Object.entries(request.dependencies)) {
      if (isPlainData(value)) values[name] = value;
      else remotes.push(name);
    }
    const timeout = this.method.cpuBound?.timeout;
    this.traceParent = tracingOn() ? callContext(request.ctx) : undefined;
    // Metrics need the wait/run split; a start report is one more message per task, so
    // it is asked for only when someone listens (or the timeout error needs it).
    const timed = observingPoolTasks();
    if (timed) this.postedAt = performance.now();
    const task: CallTask = {
      kind: 'call',
      ...ref,
      key: this.key,
      method: this.method.methodName,
      args: request.args,
      values,
      remotes,
      reportStart: timeout !== undefined || timed || this.traceParent !== undefined,
      batched: this.method.batched !== undefined,
    };
    if (timeout !== undefined) {
      this.timer = setTimeout(() => this.controller.abort(new TimedOut(timeout)), timeout);
    }
    pool.run(task, this.controller.signal, (message) => this.onMessage(message)).then(
      (returned) => {
        // null: the outcome travels on parentPort and arrives by itself (it was posted
        // before the task returned, so it is on its way, not lost).
        if (returned) this.finish(returned);
      },
      (err: unknown) => this.fail(err),
    );
  }

  /** Shutdown gave up on this call: abort it (a running one loses its thread). */
  abandon(reason: string): void {
    if (!this.done) this.controller.abort(new ShutDown(reason));
  }

  private onMessage(message: ThreadMessage): void {
    if (this.done) {
      if (message.kind === 'port') message.port.close();
      return;
    }
    switch (message.kind) {
      case 'started':
        this.started = true;
        if (this.traceParent) this.threadSpan = new ThreadSpan(this.where, this.traceParent, message.at, message.threadId);
        this.startedAt = performance.now();
        this.pool.busy++;
        break;
      case 'port':
        this.bridge = new DependencyBridge(message.port, this.request.dependencies, this.threadSpan?.around);
        break;
      case 'outcome':
        this.finish(message.outcome, message.at);
        break;
    }
  }

  private finish(outcome: Outcome, endedAt?: number): void {
    if (this.done) return;
    const error = outcome.ok ? undefined : rebuildThreadError(outcome.error, this.method);
    this.threadSpan?.end(error, endedAt);
    this.end();
    if (!outcome.ok) this.reject(error!);
    else if (this.method.batched && Array.isArray(outcome.value)) this.resolve(outcome.value.map((element) => this.batchElement(element)));
    else this.resolve(outcome.value);
  }

  /** A `@batched` result element: an Error described by the thread becomes the same class again. */
  private batchElement(element: unknown): unknown {
    if (typeof element !== 'object' || element === null || !(BATCH_ERROR_TAG in element)) return element;
    return rebuildThreadError((element as Record<string, ThreadError>)[BATCH_ERROR_TAG]!, this.method);
  }

  private fail(err: unknown): void {
    if (this.done) return;
    const error = this.explain(err);
    this.threadSpan?.end(error);
    this.end();
    this.reject(error);
  }

  private end(): void {
    this.done = true;
    if (this.started) this.pool.busy--;
    if (this.postedAt !== undefined) {
      const now = performance.now();
      const waitMs = (this.startedAt ?? now) - this.postedAt;
      const runMs = this.startedAt === undefined ? undefined : now - this.startedAt;
      emitObserved({ kind: 'pool_task', service: this.request.ctx.serviceName, method: this.method.methodName, waitMs, runMs });
    }
    clearTimeout(this.timer);
    this.pool.forget(this.key);
    this.bridge?.close();
    this.bridge = null;
  }

  /** A piscina rejection as the coded error the caller gets. */
  private explain(err: unknown): Error {
    const reason: unknown = this.controller.signal.aborted ? this.controller.signal.reason : undefined;
    if (reason instanceof ShutDown) return new CallAbandoned(this.where, reason.reason);
    if (reason instanceof TimedOut) {
      return new EnokiError('ENOKI_ERR_ABORTED', [
        this.where,
        this.started
          ? `it ran past its timeout of ${reason.ms} ms; the pool thread running it was ended and replaced`
          : `it waited its whole timeout of ${reason.ms} ms for a free pool thread and never started`,
      ]);
    }
    const error = err instanceof Error ? err : new Error(String(err));
    if (error.name === 'DataCloneError') {
      return new EnokiError('ENOKI_ERR_NOT_CLONEABLE', [this.whichArgument(), this.where, cloneFailureReason(error.message)], { cause: error });
    }
    if ((error as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return new EnokiError('ENOKI_ERR_WORKER_DIED', [this.where, `out of memory: ${error.message}; raise POOL.max_memory_mb if the method needs more`], {
        cause: error,
      });
    }
    // piscina's own errors carry no code; 'Terminating worker thread' is its pool being
    // destroyed under the call, which only our shutdown does.
    if (error.message === 'Terminating worker thread') return new CallAbandoned(this.where, 'the worker pool was shut down');
    const exit = /^worker exited with code: (-?\d+)/.exec(error.message);
    const why = exit ? `exit code ${exit[1]}: process.exit() in the method, or a fatal error` : `uncaught ${error.name}: ${error.message}`;
    return new EnokiError('ENOKI_ERR_WORKER_DIED', [this.where, why], { cause: error });
  }

  /** Which argument could not be cloned, found only on this failure path. */
  private whichArgument(): string {
    const { args } = this.request;
    const names = this.method.signature.params;
    for (let i = 0; i < args.length; i++) {
      try {
        structuredClone(args[i]);
      } catch {
        const name = names[Math.min(i, names.length - 1)]?.name;
        return name ? `argument '${name}' (#${i + 1})` : `argument #${i + 1}`;
      }
    }
    return 'a dependency value';
  }
}
