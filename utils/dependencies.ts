// Dependencies shared by the example services, as in the seed project's
// utils/dependencies.py.

import { DependencyProvider, dependency, type Logger, type WorkerContext } from 'enoki';

/**
 * LoggingDependency: logs each call's start, its completion or its error (with stack),
 * and the elapsed time. Inside a method, `this.log` is a pino logger bound to the call
 * (its service, method and call id), so `this.log.info('...')` lines up with the rest.
 */
class LoggingProvider extends DependencyProvider<Logger> {
  private readonly started = new WeakMap<WorkerContext, number>();

  private logger(ctx: WorkerContext): Logger {
    return this.container.logger.child({ method: ctx.methodName, call: ctx.callId });
  }

  getDependency(ctx: WorkerContext): Logger {
    return this.logger(ctx);
  }

  override workerSetup(ctx: WorkerContext): void {
    this.started.set(ctx, performance.now());
    this.logger(ctx).info({ args: ctx.args }, `${ctx.serviceName}.${ctx.methodName} starting`);
  }

  override workerResult(ctx: WorkerContext, _result: unknown, error: Error | undefined): void {
    const elapsedMs = Number((performance.now() - (this.started.get(ctx) ?? ctx.startedAt)).toFixed(3));
    const log = this.logger(ctx);
    if (error) log.error({ err: error, elapsedMs }, `${ctx.serviceName}.${ctx.methodName} failed after ${elapsedMs} ms`);
    else log.info({ elapsedMs }, `${ctx.serviceName}.${ctx.methodName} completed in ${elapsedMs} ms`);
  }
}

export const LoggingDependency = dependency(LoggingProvider);
