// LoggingDependency: nameko's logging dependency, shipped so a service can have per-call
// logs without writing a provider first.

import { DependencyProvider, dependency } from './dependency-provider.js';
import type { Logger } from './logger.js';
import { traceLogFields } from './tracing/call-span.js';
import type { WorkerContext } from './worker-context.js';

/**
 * The provider behind {@link LoggingDependency} (exported for subclassing): logs each
 * call's start, its completion or its error (with stack), and the elapsed time. Inside a
 * method, `this.log` is a pino logger bound to the call (its service, method and call id),
 * so `this.log.info('...')` lines up with the rest.
 */
export class LoggingProvider extends DependencyProvider<Logger> {
  // workerResult below logs errors with their stacks; the container need not repeat them.
  override readonly logsWorkerErrors = true;
  private readonly started = new WeakMap<WorkerContext, number>();

  private logger(ctx: WorkerContext): Logger {
    // A traced call's lines carry its trace and span ids, to be joined with its trace.
    const trace = traceLogFields(ctx);
    return this.container.logger.child(trace ? { method: ctx.methodName, call: ctx.callId, ...trace } : { method: ctx.methodName, call: ctx.callId });
  }

  getDependency(ctx: WorkerContext): Logger {
    return this.logger(ctx);
  }

  /** Logs `<service>.<method> starting` with the call's arguments (info), and starts the call's clock. */
  override workerSetup(ctx: WorkerContext): void {
    this.started.set(ctx, performance.now());
    this.logger(ctx).info({ args: ctx.redactedArgs }, `${ctx.serviceName}.${ctx.methodName} starting`);
  }

  /**
   * Logs `<service>.<method> completed in <n> ms` (info), or, when the method threw,
   * `failed after <n> ms` with the error and its stack (error).
   */
  override workerResult(ctx: WorkerContext, _result: unknown, error: Error | undefined): void {
    const elapsedMs = Number((performance.now() - (this.started.get(ctx) ?? ctx.startedAt)).toFixed(3));
    const log = this.logger(ctx);
    if (error) log.error({ err: error, elapsedMs }, `${ctx.serviceName}.${ctx.methodName} failed after ${elapsedMs} ms`);
    else log.info({ elapsedMs }, `${ctx.serviceName}.${ctx.methodName} completed in ${elapsedMs} ms`);
  }
}

/**
 * `log = new LoggingDependency()` on a service: `this.log` is a pino logger bound to the
 * call, and every call's start, end (with elapsed ms) or error (with stack) is logged.
 */
export const LoggingDependency = dependency(LoggingProvider);
