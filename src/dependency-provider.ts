// DependencyProvider: nameko's extension point, with nameko's hooks.
//
// A service declares a provider as an instance field:
//
//     class GreetingService {
//       static name = 'greeting_service';
//       log = new LoggingDependency();
//     }
//
// Lifecycle, once per container (per service per process), in this order:
//   1. constructor          - declarative only: keep it cheap, it runs for every call too
//                             (a fresh service instance is made per call, as in nameko)
//   2. setup()              - before the container starts: open pools, read config
//   3. start()              - the container is starting; entrypoints start after this
//   ... calls are served ...
//   4. stop()               - graceful stop, after every call in flight has finished
//      kill()               - instead of stop(), on a forced stop: release at once
//
// Per call (a "worker"), in this order:
//   1. getDependency(ctx)   - its return value is what `this.<field>` holds in the method
//   2. workerSetup(ctx)     - for every provider, before the method runs
//   3. the method runs (inline, or in a pool thread for @cpuBound)
//   4. the entrypoint answers (RPC reply published, HTTP response written)
//   5. workerResult(ctx, result, error) - for every provider; `error` is set if it threw
//   6. workerTeardown(ctx)  - for every provider, always, even after an error
//
// Hooks run on the main thread, also around @cpuBound methods. A hook may be async; the
// container awaits it. An error thrown by a hook is logged with the provider's name and
// does not stop the other providers' hooks.

import type { ExtensionHost } from './extension-host.js';
import { hasProviderBrand, PROVIDER_BRAND } from './provider-brand.js';
import type { WorkerContext } from './worker-context.js';

/**
 * True for an instance of any DependencyProvider subclass, recognised by a brand rather
 * than `instanceof` (see provider-brand.ts).
 */
export function isDependencyProvider(value: unknown): value is DependencyProvider {
  return hasProviderBrand(value);
}

/**
 * Base class of dependencies: nameko's DependencyProvider, with nameko's hooks. A service
 * declares one as an instance field (`log = new LoggingDependency()`); inside a method,
 * the field holds what {@link DependencyProvider.getDependency | getDependency} returned
 * for that call.
 *
 * Once per container (per service per process), in this order: `setup()` before the
 * container starts, `start()` as it starts (entrypoints start after it), then `stop()`
 * on a graceful stop, after every call in flight has finished, or `kill()` instead on a
 * forced stop. Per call: `getDependency(ctx)`, `workerSetup(ctx)`, the method, the
 * entrypoint's answer (RPC reply published, HTTP response written),
 * `workerResult(ctx, result, error)`, and `workerTeardown(ctx)`, always.
 *
 * Hooks run on the main thread, also around `@cpuBound` methods. A hook may be async; the
 * container awaits it. An error thrown by a hook is logged with the provider's name and
 * does not stop the other providers' hooks.
 *
 * The constructor runs for every call too (a fresh service instance is made per call, as
 * in nameko), so keep it cheap and declarative: open pools and read config in `setup()`.
 *
 * @typeParam T - What the service method sees in the field.
 */
export abstract class DependencyProvider<T = unknown> {
  /** Brand read by {@link isDependencyProvider}. */
  declare readonly [PROVIDER_BRAND]: true;

  /** The container this provider is bound to; set before setup(). */
  container!: ExtensionHost;
  /** The field name it was declared under on the service class. */
  attrName!: string;

  /**
   * Set to true when this provider's workerResult logs a method's error with its stack
   * (as LoggingDependency does). The container, which otherwise logs every error itself,
   * then leaves it to the provider, so one failure is one log entry.
   */
  readonly logsWorkerErrors: boolean = false;

  /** Once, before the container starts. */
  setup(): void | Promise<void> {}
  /** Once, when the container starts. */
  start(): void | Promise<void> {}
  /** Once, on graceful stop, after calls in flight have finished. */
  stop(): void | Promise<void> {}
  /** Once, on a forced stop, instead of stop(). Release resources without waiting. */
  kill(): void | Promise<void> {}

  /** What the service method sees in `this.<attrName>` for this call. */
  abstract getDependency(ctx: WorkerContext): T;

  /**
   * Per call, before the method runs (after every provider's getDependency): the place
   * to start per-call work such as a timer. The default does nothing.
   */
  workerSetup(_ctx: WorkerContext): void | Promise<void> {}
  /**
   * Per call, after the method ran and the entrypoint answered: `result` is what the
   * method returned, `error` what it threw (then `result` is undefined). A provider that
   * logs `error` with its stack sets {@link DependencyProvider.logsWorkerErrors | logsWorkerErrors}.
   * The default does nothing.
   */
  workerResult(_ctx: WorkerContext, _result: unknown, _error: Error | undefined): void | Promise<void> {}
  /**
   * Per call, last, and always: also when the method, getDependency or another hook
   * threw. The place to release per-call resources. The default does nothing.
   */
  workerTeardown(_ctx: WorkerContext): void | Promise<void> {}
}

// Every provider carries the brand (see provider-brand.ts).
Object.defineProperty(DependencyProvider.prototype, PROVIDER_BRAND, { value: true });

/** The type a provider injects into the method. */
export type Injected<P> = P extends DependencyProvider<infer T> ? T : never;

/**
 * Types a provider class by what it injects, so a field declared as
 * `log = new LoggingDependency()` is typed as the logger the method receives:
 *
 *     export const LoggingDependency = dependency(LoggingProvider);
 *
 * At run time it returns the class unchanged.
 */
export function dependency<A extends unknown[], P extends DependencyProvider<unknown>>(
  cls: new (...args: A) => P,
):
  /**
   * Makes the provider, with the provider class's own arguments. Typed as the value the
   * provider injects, which is what the field holds inside a service method.
   */
  new (...args: A) => Injected<P> {
  return cls as unknown as new (...args: A) => Injected<P>;
}
