// Entrypoints: how calls get into a service. This is the public contract every entrypoint
// kind is written against, the built-in ones (RPC, HTTP, events, timers) and a user's own
// (a Redis stream consumer, a cron schedule), so a user-written one behaves like @rpc:
// hooks, max_workers, @cpuBound and enoki/testing all work on it.
//
// A kind is an object made by defineEntrypointKind; its decorator (made with
// entrypointDecorator, or markEntrypoint for other shapes) puts an EntrypointMark (the kind
// and the decorator's options) on each method. When a container starts it groups
// its methods' marks by kind, and asks each kind for its entrypoints: RPC makes one
// consumer for all its methods, events and timers make one entrypoint per method. The
// container knows only this file, never a kind.
//
// Lifecycle of an entrypoint, once per container start, in this order:
//   1. setup()   - after the dependency providers started: check options, declare what
//                  must exist before anything is consumed. A throw fails container.start().
//   2. start()   - begin taking calls: each call goes to `host.spawnWorker(...)`.
//   ... calls are served ...
//   3. stop()    - graceful: take no new calls. Calls already spawned are finished by the
//                  container (it waits for them, within POOL.shutdown_grace for the pool),
//                  so stop() need not wait for them unless it must answer them itself.
//      kill()    - forced, instead of stop(): release what it holds (sockets, timers) now.
// An entrypoint object is used for one start only; a restarted container makes new ones.

import { parseSensitivePaths } from './redaction.js';
import { applyMark, type EntrypointMark, type MethodDecorator } from './decorators.js';
import { EnokiError } from './errors.js';
import type { ExtensionHost, SpawnOptions, WorkerOutcome } from './extension-host.js';
import type { MethodDefinition } from './service-definition.js';

/** Something that delivers calls into a container. See the lifecycle above. */
export interface Entrypoint {
  /** Before start: check options, declare queues. Optional. */
  setup?(): void | Promise<void>;
  /** Begin taking calls. */
  start(): void | Promise<void>;
  /** Stop taking new calls; calls already taken are finished by the container. */
  stop(): void | Promise<void>;
  /** Forced stop, instead of stop(): release what it holds at once. Default: stop(). */
  kill?(): void | Promise<void>;
}

/** One method marked with a kind, with the options its decorator was given. */
export interface MarkedMethod<O> {
  readonly method: MethodDefinition;
  readonly options: O;
}

/** An entrypoint kind: its name (the worker context's `entrypoint`) and how it makes its entrypoints. */
export interface EntrypointKindDefinition<O = unknown> {
  readonly name: string;
  /**
   * Called once per container start with every method marked with this kind (never
   * empty). Return the entrypoints that serve them: one for all, or one per method.
   */
  create(host: ExtensionHost, marked: ReadonlyArray<MarkedMethod<O>>): Entrypoint | Entrypoint[] | Promise<Entrypoint | Entrypoint[]>;
}

const KIND_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** Define an entrypoint kind; decorators made from it (entrypointDecorator) mark methods with it. */
export function defineEntrypointKind<O>(kind: EntrypointKindDefinition<O>): EntrypointKindDefinition<O> {
  if (typeof kind.name !== 'string' || !KIND_NAME.test(kind.name) || kind.name === 'direct') {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [
      'defineEntrypointKind',
      String(kind.name),
      "a kind's name is letters, digits, _ and -, starting with a letter ('direct' is enoki/testing's)",
    ]);
  }
  if (typeof kind.create !== 'function') {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['defineEntrypointKind', kind.name, 'create(host, marked) is missing']);
  }
  return Object.freeze({ name: kind.name, create: kind.create.bind(kind) });
}

/**
 * What any kind's decorator may take besides its own options, as every nameko entrypoint
 * takes `expected_exceptions` and `sensitive_arguments`.
 */
export interface CommonEntrypointOptions {
  /**
   * Errors that are the caller's fault (nameko's `expected_exceptions`): logged at warn
   * level without a stack; `@rpc` and `@http` answer them as the caller's error.
   */
  expected?: ReadonlyArray<abstract new (...args: never[]) => Error>;
  /**
   * Arguments masked in every log line enoki writes and in `ctx.redactedArgs` (nameko's
   * `sensitive_arguments`): parameter names or paths into them, e.g.
   * `['password', 'card.number', '0.items[].secret']`. The method still receives them.
   */
  sensitiveArguments?: readonly string[];
}

/**
 * A method decorator that marks the method with `kind`, once per entry of `options` (an
 * `@http('GET,POST', ...)` method has two routes), and records `common` on it. Bad
 * common options throw here, when the decorator is made. `decorator` names it in usage
 * errors. The general form that entrypointDecorator and the built-in `@rpc` and `@http`
 * are made with; use it for a decorator of another shape, such as one usable bare
 * (`@rpc`) as well as with options (`@rpc({ name })`):
 *
 *     export function every(...args: unknown[]) {
 *       if (typeof args[0] === 'function') return markEntrypoint('every', kind, [{ ms: 1000 }])(...(args as Parameters<MethodDecorator>));
 *       return markEntrypoint('every', kind, [{ ms: args[0] as number }]);
 *     }
 */
export function markEntrypoint<O>(decorator: string, kind: EntrypointKindDefinition<O>, options: readonly O[], common: CommonEntrypointOptions = {}): MethodDecorator {
  const paths = common.sensitiveArguments === undefined ? undefined : parseSensitivePaths(decorator, common.sensitiveArguments);
  const { expected } = common;
  if (expected !== undefined && (!Array.isArray(expected) || !expected.every((cls) => typeof cls === 'function'))) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, String(expected), 'expected is a list of error classes, e.g. [InvalidInput]']);
  }
  return ((...inner: unknown[]) =>
    applyMark(decorator, inner, (marks) => {
      for (const each of options) marks.entrypoints.push({ kind, options: each });
      if (paths) marks.sensitiveArguments = [...(marks.sensitiveArguments ?? []), ...paths];
      if (expected) marks.expected = [...(marks.expected ?? []), ...expected];
    })) as MethodDecorator;
}

/**
 * A decorator factory for `kind`: `toOptions` turns the decorator's arguments into the
 * options stored on the method (and may throw for bad ones, at class definition time).
 * Options that include `sensitiveArguments` or `expected` ({@link CommonEntrypointOptions})
 * apply them to the method as well.
 *
 *     export const every = entrypointDecorator(intervalKind, (ms: number) => ({ ms }));
 *     class Reports { static name = 'reports'; @every(60_000) send() { ... } }
 */
export function entrypointDecorator<A extends unknown[], O>(kind: EntrypointKindDefinition<O>, toOptions: (...args: A) => O): (...args: A) => MethodDecorator {
  return (...args: A) => {
    const options = toOptions(...args);
    // Any kind's options may name sensitive arguments and expected errors (nameko lets every entrypoint).
    const { sensitiveArguments, expected } = (options ?? {}) as CommonEntrypointOptions;
    return markEntrypoint(kind.name, kind, [options], { sensitiveArguments, expected });
  };
}

/**
 * A base class for an entrypoint that serves one method (the usual shape: a timer, a
 * queue consumer per handler). Subclasses implement start() and stop(), and call
 * `this.spawn(args)` for each call.
 */
export abstract class MethodEntrypoint<O = unknown> implements Entrypoint {
  constructor(
    /** The container it delivers calls into. */
    readonly container: ExtensionHost,
    /** The method it serves. */
    readonly method: MethodDefinition,
    /** What the method's decorator was given. */
    readonly options: O,
    /** Its kind's name, recorded as `ctx.entrypoint` on every call. */
    readonly kind: string,
  ) {}

  setup(): void | Promise<void> {}
  abstract start(): void | Promise<void>;
  abstract stop(): void | Promise<void>;
  /** Forced stop; unless overridden, the same as stop(). */
  kill(): void | Promise<void> {
    return this.stop();
  }

  /** Run one call of the method through the container's worker path; resolves with its outcome. */
  protected spawn(args: unknown[], options: Omit<SpawnOptions, 'entrypoint'> = {}): Promise<WorkerOutcome> {
    return this.container.spawnWorker(this.method, args, { ...options, entrypoint: this.kind });
  }
}

/** The constructor a MethodEntrypoint subclass has, as defineEntrypoint calls it. */
export type MethodEntrypointClass<O> = new (container: ExtensionHost, method: MethodDefinition, options: O, kind: string) => MethodEntrypoint<O>;

/**
 * The short way to a user-written entrypoint: a kind named `name` with one `cls` per
 * marked method, and its decorator.
 *
 *     class Interval extends MethodEntrypoint<{ ms: number }> { start() {...} stop() {...} }
 *     export const every = defineEntrypoint('every', Interval, (ms: number) => ({ ms }));
 */
export function defineEntrypoint<A extends unknown[], O>(name: string, cls: MethodEntrypointClass<O>, toOptions: (...args: A) => O): (...args: A) => MethodDecorator {
  const kind = defineEntrypointKind<O>({ name, create: (host, marked) => marked.map((m) => new cls(host, m.method, m.options, name)) });
  return entrypointDecorator(kind, toOptions);
}

/**
 * The container's side: every entrypoint for these methods, kind by kind in the order the
 * kinds first appear. A kind is known by its object, so two kinds with one name stay apart.
 */
export async function createEntrypoints(host: ExtensionHost, methods: Iterable<MethodDefinition>): Promise<Entrypoint[]> {
  const byKind = new Map<EntrypointMark['kind'], Array<MarkedMethod<unknown>>>();
  for (const method of methods) {
    for (const mark of method.entrypoints) {
      let marked = byKind.get(mark.kind);
      if (!marked) byKind.set(mark.kind, (marked = []));
      marked.push({ method, options: mark.options });
    }
  }
  const entrypoints: Entrypoint[] = [];
  for (const [kind, marked] of byKind) {
    const made = await (kind as EntrypointKindDefinition).create(host, marked);
    entrypoints.push(...(Array.isArray(made) ? made : [made]));
  }
  return entrypoints;
}

/** Names of the kinds a method is marked with, for logs and error messages. */
export function entrypointKindsOf(method: MethodDefinition): string[] {
  return method.entrypoints.map((mark) => mark.kind.name);
}
