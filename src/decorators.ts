// Method marks: what decorators record on a service's methods, read by defineService and
// the container when it starts. Entrypoint decorators (@rpc in rpc/rpc-decorator.ts, @http
// in http/http-decorator.ts, @eventHandler, @timer, and any made with defineEntrypoint)
// add an EntrypointMark each; @cpuBound and `expected` change how the call runs.
//
// Node 20 has no Symbol.metadata, so marks are kept in a WeakMap keyed by the method's
// function object: every decorator on one method receives the same function, so
// `@rpc @cpuBound` and `@cpuBound @rpc` both end up on one record, in either order.
// Both TC39 standard decorators and TypeScript's legacy `experimentalDecorators` call
// shapes are accepted, so a project's tsconfig choice does not break its services.

import { EnokiError } from './errors.js';

export interface CpuBoundOptions {
  /** Abort the call after this many milliseconds (the thread running it is replaced). */
  timeout?: number;
}

/**
 * One entrypoint on a method: which kind (the object made by defineEntrypointKind, typed
 * loosely here so this file needs nothing from entrypoint.ts) and that decorator's options.
 */
export interface EntrypointMark {
  readonly kind: { readonly name: string };
  readonly options: unknown;
}

export interface MethodMarks {
  /** The method's property name on the class. */
  methodName: string;
  /** Its entrypoints, in the order the decorators ran (`@rpc @eventHandler(...)` gives two). */
  entrypoints: EntrypointMark[];
  cpuBound?: CpuBoundOptions;
  /** Error classes that are the caller's fault: logged at warn level without a stack. */
  expected?: ReadonlyArray<abstract new (...args: never[]) => Error>;
}

const marks = new WeakMap<Function, MethodMarks>();

function marksFor(fn: Function, methodName: string): MethodMarks {
  let record = marks.get(fn);
  if (!record) {
    record = { methodName, entrypoints: [] };
    marks.set(fn, record);
  }
  return record;
}

/** The marks on one function, if any decorator touched it. */
export function getMethodMarks(fn: unknown): MethodMarks | undefined {
  return typeof fn === 'function' ? marks.get(fn) : undefined;
}

type Legacy = [target: object, key: string | symbol, descriptor: PropertyDescriptor];
type Standard = [value: Function, context: ClassMethodDecoratorContext];

/**
 * Apply `mark` to the decorated method, whichever decorator protocol called us: for
 * entrypoint decorators (through entrypoint.ts) and @cpuBound. `decorator` names it in
 * usage errors.
 */
export function applyMark(decorator: string, callArgs: unknown[], mark: (record: MethodMarks) => void): void {
  if (callArgs.length === 2 && typeof callArgs[0] === 'function' && isContext(callArgs[1])) {
    const [value, context] = callArgs as Standard;
    if (context.kind !== 'method' || context.static || context.private) {
      throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, String(context.name), 'it goes on a public instance method']);
    }
    mark(marksFor(value, String(context.name)));
    return;
  }
  if (callArgs.length === 3 && typeof (callArgs as Legacy)[2] === 'object') {
    const [target, key, descriptor] = callArgs as Legacy;
    if (typeof descriptor.value !== 'function' || typeof target === 'function') {
      throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, String(key), 'it goes on a public instance method']);
    }
    mark(marksFor(descriptor.value as Function, String(key)));
    return;
  }
  throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, '?', 'it was not called as a method decorator']);
}

function isContext(value: unknown): value is ClassMethodDecoratorContext {
  return typeof value === 'object' && value !== null && 'kind' in value && 'name' in value;
}

/** A method decorator, accepted in both TC39 and legacy `experimentalDecorators` form. */
export type MethodDecorator = <T extends Function>(value: T, context: ClassMethodDecoratorContext) => void;

/**
 * Runs the method in the worker-thread pool instead of on the main event loop, so a
 * long computation cannot starve the AMQP heartbeat. Combine with any entrypoint decorator
 * (@rpc, @http, @eventHandler, @timer) in any order: `@rpc @cpuBound` or `@cpuBound({ timeout: 60_000 }) @rpc`.
 */
export function cpuBound(options?: CpuBoundOptions): MethodDecorator;
export function cpuBound<T extends Function>(value: T, context: ClassMethodDecoratorContext): void;
export function cpuBound(...args: unknown[]): unknown {
  if (args.length <= 1 && (args[0] === undefined || (typeof args[0] === 'object' && args[0] !== null))) {
    const options = { ...((args[0] ?? {}) as CpuBoundOptions) };
    if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
      throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['cpuBound', String(options.timeout), 'timeout is a positive number of milliseconds']);
    }
    return (...inner: unknown[]) => applyMark('cpuBound', inner, (m) => (m.cpuBound = options));
  }
  applyMark('cpuBound', args, (m) => (m.cpuBound = {}));
  return undefined;
}
