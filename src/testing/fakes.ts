// Stand-ins for dependencies in unit tests: nameko's worker_factory puts a MagicMock in
// every dependency field. JS has no MagicMock, so a fake here is an object whose every
// property is made on first read as a recording function (`fake.anything(...)`).
//
// Test frameworks have their own spies, and users want their matchers
// (`expect(fake.hello).toHaveBeenCalledWith('x')`), so the function itself comes from a
// factory the caller may pass (`vi.fn`, `jest.fn`, `() => mock.fn()` for node:test).
// Without one, enoki's own `recorder()` is used: it keeps `calls` and resolves undefined.
// Nothing here imports a test framework: enoki/testing must load under any of them.

import { RpcProxyProvider } from '../rpc/rpc-proxy.js';
import type { DependencyProvider } from '../dependency-provider.js';
import { usageError } from './usage-error.js';

/** Any function, as a spy is: it accepts and returns anything. */
// biome-ignore lint: a spy accepts and returns anything
export type AnyFunction = (...args: any[]) => any;

/** Makes one spy, called with no arguments (so `vi.fn` and `jest.fn` can be passed as they are). */
export type MockFactory = () => AnyFunction;

/** Options of the fakes that workerFactory and replaceDependencies make: which spy records the calls. */
export interface FakeOptions {
  /** Makes each recording function; default: `recorder()`. Pass `vi.fn` to use vitest's matchers. */
  mockFn?: MockFactory;
}

/** enoki's own recording function, for tests that use no spy library. */
export interface RecordingFunction<A extends unknown[] = any[], R = any> {
  (...args: A): Promise<R>;
  /** The arguments of every call so far, oldest first. */
  readonly calls: A[];
  /** What a call does; the default resolves undefined. Assign to change it. */
  impl: (...args: A) => R | Promise<R>;
}

/** A recording async function: `recorder(async (name) => \`hi ${name}\`)`. */
export function recorder<A extends unknown[] = any[], R = any>(impl?: (...args: A) => R | Promise<R>): RecordingFunction<A, R> {
  const calls: A[] = [];
  const fn = (async (...args: A) => {
    calls.push(args);
    return fn.impl(...args);
  }) as RecordingFunction<A, R>;
  Object.defineProperty(fn, 'calls', { value: calls, enumerable: true });
  fn.impl = impl ?? ((() => undefined) as () => R);
  return fn;
}

// Properties that Promise machinery, JSON, test-framework printers and React-style
// checks probe on any value. Answering them with a function would make a fake look
// thenable (so `await fake` or returning it from an async method would hang) or confuse
// the printer that renders it in a failed assertion.
const NOT_MEMBERS = new Set<PropertyKey>([
  'then',
  'catch',
  'finally',
  'toJSON',
  'constructor',
  'inspect',
  'asymmetricMatch',
  '$$typeof',
  'nodeType',
  'tagName',
  '@@__IMMUTABLE_ITERABLE__@@',
  '@@__IMMUTABLE_RECORD__@@',
  '_isMockFunction',
]);

function newSpy(label: string, options: FakeOptions): AnyFunction {
  if (!options.mockFn) return recorder();
  const spy = options.mockFn();
  if (typeof spy !== 'function') throw usageError('mockFn', `must return a function; for ${label} it returned ${typeof spy}`);
  // vitest and jest spies can carry a name, which their failure messages print.
  const named = spy as AnyFunction & { mockName?: (name: string) => unknown };
  if (typeof named.mockName === 'function') named.mockName(label);
  return spy;
}

/**
 * An object whose any property is a recording function, made on first read and then kept
 * (so the test and the service see the same one). Assigning a property replaces it.
 */
export function autoFake(label: string, options: FakeOptions = {}, member: (name: string) => AnyFunction = (name) => newSpy(`${label}.${name}`, options)): Record<string, AnyFunction> {
  // Members live on the target itself, so printing, Object.keys and assignment behave as
  // on a plain object.
  const target: Record<string, AnyFunction> = {};
  Object.defineProperty(target, Symbol.toStringTag, { value: `Fake ${label}` });
  return new Proxy(target, {
    get(obj, prop, receiver) {
      // `in`, not hasOwn: Object.prototype's own methods (toString, valueOf) stay what
      // string conversion and printers expect.
      if (typeof prop !== 'string' || NOT_MEMBERS.has(prop) || prop in obj) return Reflect.get(obj, prop, receiver);
      const fn = member(prop);
      obj[prop] = fn;
      return fn;
    },
  });
}

/**
 * The fake for an RpcProxy field: each remote method is one spy, and `callAsync(...)` is
 * recorded on that same spy (it is the same remote call, collected later), so a test
 * stubs `hello` once for both ways of calling it. `.call(args, kwargs)` is recorded on
 * its own spy, `fake.hello.call`, because kwargs cannot be mapped to positions without
 * the remote signature.
 */
export function rpcProxyFake(label: string, options: FakeOptions = {}): Record<string, AnyFunction> {
  return autoFake(label, options, (name) => {
    const spy = newSpy(`${label}.${name}`, options) as AnyFunction & Record<string, unknown>;
    spy.callAsync = (...args: unknown[]) => {
      let reply: Promise<unknown>;
      try {
        reply = Promise.resolve(spy(...args));
      } catch (err) {
        reply = Promise.reject(err);
      }
      // As the real callAsync: a failure nobody collects must not be an unhandled rejection.
      reply.catch(() => undefined);
      return { result: () => reply };
    };
    // Shadows Function.prototype.call on this one spy, exactly as the real RemoteMethod does.
    Object.defineProperty(spy, 'call', { value: newSpy(`${label}.${name}.call`, options), writable: true, configurable: true, enumerable: true });
    return spy;
  });
}

/** The fake that stands in for one provider's injected value. */
export function fakeFor(provider: DependencyProvider | undefined, label: string, options: FakeOptions = {}): Record<string, AnyFunction> {
  return provider instanceof RpcProxyProvider ? rpcProxyFake(label, options) : autoFake(label, options);
}
