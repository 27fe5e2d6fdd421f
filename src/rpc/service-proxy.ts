// `proxy.hello('x')`, `proxy.hello.callAsync('x')`, `proxy.hello.call(args, kwargs)`:
// the object through which both the standalone client and the RpcProxy dependency call a
// service. Typed from the service class, so `RpcProxy<GreetingService>` checks method
// names and arguments at compile time.

import type { CallOptions } from './reply-listener.js';

/** A call started with callAsync(); `result()` waits for the reply (nameko's RpcReply). */
export interface AsyncReply<T> {
  /**
   * Wait for the reply: resolves with the method's result, rejects with its error
   * (RemoteError, RpcTimeout, ...). May be called more than once; each gets the same outcome.
   */
  result(): Promise<T>;
}

/**
 * One method of a service proxy, typed by the service method's parameters `A` and
 * (awaited) result `R`: call it to send the request and wait for the reply, or use
 * `callAsync` to collect the reply later and `call` to pass keyword arguments.
 */
export interface RemoteMethod<A extends unknown[], R> {
  /**
   * Call with positional arguments: resolves with the remote result, rejects with
   * RemoteError (the method threw), RpcTimeout, UnknownService, MethodNotFound or
   * IncorrectSignature.
   */
  (...args: A): Promise<R>;
  /** Send now, collect the reply later with `.result()`. */
  callAsync(...args: A): AsyncReply<R>;
  /** Call with keyword arguments, as a Python caller would. */
  call(args: unknown[], kwargs?: Record<string, unknown>, options?: { timeoutMs?: number | null }): Promise<R>;
}

/** Any function: {@link ServiceProxy} keeps the properties of a class that are functions. */
export type AnyFunction = (...args: never[]) => unknown;

/** What a proxy for service class S offers: every method of S, called remotely. */
export type ServiceProxy<S> = {
  [K in keyof S as S[K] extends AnyFunction ? K : never]: S[K] extends (...args: infer A) => infer R ? RemoteMethod<A, Awaited<R>> : never;
};

/** An untyped proxy: any method name, any arguments. */
export type AnyServiceProxy = Record<string, RemoteMethod<unknown[], any>>;

export type Caller = (service: string, method: string, args: unknown[], options: CallOptions) => Promise<unknown>;

export function remoteMethod(caller: Caller, service: string, method: string, defaults: () => CallOptions): RemoteMethod<unknown[], unknown> {
  const fn = ((...args: unknown[]) => caller(service, method, args, defaults())) as RemoteMethod<unknown[], unknown>;
  fn.callAsync = (...args: unknown[]) => {
    const promise = caller(service, method, args, defaults());
    // The reply may be collected late or never; an early failure must not become an
    // unhandled rejection before result() is called.
    promise.catch(() => undefined);
    return { result: () => promise };
  };
  fn.call = (args: unknown[], kwargs: Record<string, unknown> = {}, options = {}) =>
    caller(service, method, args, { ...defaults(), ...options, kwargs });
  return fn;
}

// Names a Promise-aware caller probes on any object; answering them would make the proxy
// look like a thenable and break `await`.
const NOT_METHODS = new Set<PropertyKey>(['then', 'catch', 'finally', 'toJSON', 'constructor', 'inspect', 'asymmetricMatch', '$$typeof', 'nodeType']);

export function serviceProxy(caller: Caller, service: string, defaults: () => CallOptions): AnyServiceProxy {
  const cache = new Map<string, RemoteMethod<unknown[], unknown>>();
  return new Proxy({} as AnyServiceProxy, {
    get(_target, prop) {
      if (typeof prop !== 'string' || NOT_METHODS.has(prop)) return undefined;
      let method = cache.get(prop);
      if (!method) {
        method = remoteMethod(caller, service, prop, defaults);
        cache.set(prop, method);
      }
      return method;
    },
  });
}
