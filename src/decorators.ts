// Method marks: what decorators record on a service's methods, read by defineService and
// the container when it starts. Entrypoint decorators (@rpc in rpc/rpc-decorator.ts, @http
// in http/http-decorator.ts, @eventHandler, @timer, and any made with defineEntrypoint)
// add an EntrypointMark each; @cpuBound and `expected` change how the call runs.
//
// Node 20 has no Symbol.metadata, so marks are kept in a WeakMap keyed by the method's
// function object: every decorator on one method receives the same function, so
// `@rpc @cpuBound` and `@cpuBound @rpc` both end up on one record, in either order. The
// WeakMap is the process registry's (process-registry.ts), so a service module that
// reached enoki another way (require vs import) still marks the table the runner reads.
// Both TC39 standard decorators and TypeScript's legacy `experimentalDecorators` call
// shapes are accepted, so a project's tsconfig choice does not break its services, and
// decorate() applies the same decorators from plain JavaScript, which has no syntax for them.

import { batchOptions, type BatchedOptions } from './batching.js';
import { checkDecoratorOptions } from './decorator-options.js';
import { EnokiError } from './errors.js';
import { processRegistry } from './process-registry.js';
import type { SensitivePath } from './redaction.js';

/** Options of {@link cpuBound}: `@cpuBound({ timeout: 60_000 })`, `@cpuBound({ maxSeconds: 7_200 })`. */
export interface CpuBoundOptions {
  /** Abort the call after this many milliseconds (the thread running it is replaced). */
  timeout?: number;
  /**
   * The longest a call of this method may run, in seconds: a long task. Its request stays
   * unacknowledged that long, so RabbitMQ's consumer_timeout (30 min by default) must not
   * bite first. On RabbitMQ 3.12 and later the `@rpc` service queue is declared with an
   * `x-consumer-timeout` that covers it; on older brokers the service logs once, as
   * ENOKI_ERR_LONG_TASK_BROKER, the broker setting to change (README, "Three timeouts").
   * Nothing aborts the call at maxSeconds: that is `timeout`.
   */
  maxSeconds?: number;
}

/**
 * One entrypoint on a method: which kind (the object made by defineEntrypointKind, typed
 * loosely here so this file needs nothing from entrypoint.ts) and that decorator's options.
 */
export interface EntrypointMark {
  readonly kind: { readonly name: string };
  readonly options: unknown;
}

/** What the decorators recorded on one method. */
export interface MethodMarks {
  /** The method's property name on the class. */
  methodName: string;
  /** Its entrypoints, in the order the decorators ran (`@rpc @eventHandler(...)` gives two). */
  entrypoints: EntrypointMark[];
  cpuBound?: CpuBoundOptions;
  /** Paths of arguments masked in logs (the entrypoints' `sensitiveArguments`, merged). */
  sensitiveArguments?: SensitivePath[];
  /** Set by `@batched`: concurrent calls run as one execution on an array of inputs. */
  batched?: Required<BatchedOptions>;
  /** Error classes that are the caller's fault: logged at warn level without a stack. */
  expected?: ReadonlyArray<abstract new (...args: never[]) => Error>;
}

const marks = processRegistry<MethodMarks>().marks;

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

/**
 * A method decorator that works in either TypeScript dialect: TC39 standard decorators
 * (the default) and `experimentalDecorators: true` (NestJS projects and other legacy
 * setups) give the same service. Also what {@link decorate} takes.
 */
export interface MethodDecorator {
  /** TC39 standard decorator call: the method and its context. */
  <T extends Function>(value: T, context: ClassMethodDecoratorContext): void;
  /** `experimentalDecorators` call: the prototype, the method's name, its descriptor. */
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void;
}

/**
 * Runs the method in the worker-thread pool instead of on the main event loop, so a
 * long computation cannot starve the AMQP heartbeat. Combine with any entrypoint decorator
 * (`@rpc`, `@http`, `@eventHandler`, `@timer`, your own) in any order: `@rpc @cpuBound` or
 * `@cpuBound({ timeout: 60_000 }) @rpc`. A task that may run past RabbitMQ's consumer_timeout
 * (30 min by default) says so with `@cpuBound({ maxSeconds })` (see {@link CpuBoundOptions}).
 */
export function cpuBound(options?: CpuBoundOptions): MethodDecorator;
export function cpuBound<T extends Function>(value: T, context: ClassMethodDecoratorContext): void;
export function cpuBound(target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void;
export function cpuBound(...args: unknown[]): unknown {
  if (args.length <= 1 && (args[0] === undefined || (typeof args[0] === 'object' && args[0] !== null))) {
    checkDecoratorOptions('cpuBound', args[0], ['timeout', 'maxSeconds']);
    const options = { ...((args[0] ?? {}) as CpuBoundOptions) };
    if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
      throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['cpuBound', String(options.timeout), 'timeout is a positive number of milliseconds']);
    }
    if (options.maxSeconds !== undefined && !(typeof options.maxSeconds === 'number' && Number.isFinite(options.maxSeconds) && options.maxSeconds > 0)) {
      throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['cpuBound', String(options.maxSeconds), 'maxSeconds is a positive number of seconds (the longest a call may run)']);
    }
    return ((...inner: unknown[]) => applyMark('cpuBound', inner, (m) => (m.cpuBound = options))) as MethodDecorator;
  }
  applyMark('cpuBound', args, (m) => (m.cpuBound = {}));
  return undefined;
}

/**
 * Dynamic micro-batching: callers send one input per call; concurrent calls are gathered
 * (up to `maxBatch`, or `maxDelayMs` after the first) and the method runs once with the
 * array of inputs, returning one result per input, in order. An element that is an `Error`
 * fails only its call. Combine with `@rpc`, `@http` or an event handler, and with
 * `@cpuBound` (the whole batch is one pool task):
 *
 * ```ts
 * @rpc @batched({ maxBatch: 64, maxDelayMs: 5 }) @cpuBound
 * classify(images: Image[]): Result[] { ... }      // callers: classify(image)
 * ```
 *
 * Each call keeps its own `max_workers` slot, hooks and reply, so a batch holds at most
 * `max_workers` calls.
 */
export function batched(options?: BatchedOptions): MethodDecorator;
export function batched<T extends Function>(value: T, context: ClassMethodDecoratorContext): void;
export function batched(target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void;
export function batched(...args: unknown[]): unknown {
  if (args.length <= 1 && (args[0] === undefined || (typeof args[0] === 'object' && args[0] !== null))) {
    checkDecoratorOptions('batched', args[0], ['maxBatch', 'maxDelayMs']);
    const options = batchOptions((args[0] ?? {}) as BatchedOptions);
    return ((...inner: unknown[]) => applyMark('batched', inner, (m) => (m.batched = options))) as MethodDecorator;
  }
  applyMark('batched', args, (m) => (m.batched = batchOptions({})));
  return undefined;
}

/** What {@link decorate} takes for one method: a decorator, or several. */
export type DecoratorSpec = MethodDecorator | readonly MethodDecorator[];

/**
 * Applies enoki's decorators without decorator syntax, for plain JavaScript (`.js`, `.mjs`,
 * `.cjs`), which has none:
 *
 *     class Greeter {
 *       static name = 'greeter';
 *       hello(name) { return `Hello, ${name}!`; }
 *       crunch(n) { ... }
 *       page() { ... }
 *     }
 *     decorate(Greeter, { hello: rpc, crunch: [rpc, cpuBound], page: http('GET', '/x') });
 *
 * The result is the same service as `@rpc hello(...)` in TypeScript. Returns the class, so
 * `export const Greeter = decorate(class { ... }, { ... })` works too. The methods must be
 * defined on the class (or a base class) when decorate is called.
 */
export function decorate<C extends abstract new (...args: never[]) => unknown>(
  cls: C,
  spec: { readonly [K in keyof InstanceType<C> & string]?: DecoratorSpec },
): C {
  if (typeof cls !== 'function' || !cls.prototype) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['decorate', String(cls), 'the first argument is the service class']);
  }
  if (typeof spec !== 'object' || spec === null) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['decorate', cls.name, 'the second argument maps method names to decorators, e.g. { hello: rpc }']);
  }
  for (const [key, given] of Object.entries(spec as Record<string, DecoratorSpec | undefined>)) {
    if (given === undefined) continue;
    const descriptor = findMethod(cls.prototype as object, key);
    if (!descriptor) {
      throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['decorate', `${cls.name}.${key}`, `class ${cls.name} (its static name, if it declares one) has no method ${key}`]);
    }
    // Applied last to first, as stacked decorators are (the one nearest the method first).
    const decorators = (Array.isArray(given) ? [...given] : [given]) as unknown[];
    for (const decorator of decorators.reverse()) {
      if (typeof decorator !== 'function') {
        throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['decorate', `${cls.name}.${key}`, `${String(decorator)} is not a decorator (use rpc, cpuBound, http('GET', '/path'), ...)`]);
      }
      // The experimentalDecorators call shape, which every enoki decorator accepts.
      (decorator as (...args: unknown[]) => unknown)(cls.prototype, key, descriptor);
    }
  }
  return cls;
}

function findMethod(proto: object, key: string): PropertyDescriptor | undefined {
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const descriptor = Object.getOwnPropertyDescriptor(p, key);
    if (descriptor) return typeof descriptor.value === 'function' ? descriptor : undefined;
  }
  return undefined;
}
