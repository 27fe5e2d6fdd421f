// entrypointHook: call an entrypoint of a running container without a client or a
// broker round trip, as nameko's entrypoint_hook and fastify.inject() do. The call takes
// the container's real worker path (max_workers slot, dependency injection, worker
// hooks, the pool for @cpuBound), with entrypoint kind 'direct'. Arguments are bound as an
// RPC request's would be, so a wrong call fails with the same IncorrectSignature.
// Unlike RPC, the result is not JSON round-tripped: a Date comes back a Date.

import { EnokiError } from '../errors.js';
import type { ContextData } from '../context-headers.js';
import type { ServiceContainer } from '../service-container.js';
import { bindArguments } from '../signature.js';
import { findEntrypoint, type EntrypointArgs, type EntrypointName, type EntrypointResult } from './entrypoints.js';

/** Options of {@link entrypointHook}. */
export interface EntrypointHookOptions {
  /** What the worker context's contextData holds (as `nameko.*` headers would give it). */
  contextData?: ContextData;
}

/**
 * What {@link entrypointHook} returns: a function that calls the entrypoint through the
 * container's worker path, typed by the method's arguments `A` and result `R`.
 */
export interface EntrypointHook<A extends unknown[], R> {
  /** Call with positional arguments; resolves with the result or rejects with the method's own error. */
  (...args: A): Promise<R>;
  /** Call with keyword arguments, as a nameko caller would: `hook.call([], { name: 'x' })`. */
  call(args: unknown[], kwargs?: Record<string, unknown>): Promise<R>;
}

/**
 *     const hello = entrypointHook(container, 'hello', { contextData: { user_id: 'u1' } });
 *     expect(await hello('Matt')).toBe('Hello, Matt!');
 *
 * The entrypoint is looked up now (an unknown name throws at once); each call needs the
 * container to be running.
 */
export function entrypointHook<S, K extends EntrypointName<S>>(
  container: ServiceContainer<S>,
  method: K,
  options: EntrypointHookOptions = {},
): EntrypointHook<EntrypointArgs<S, K>, EntrypointResult<S, K>> {
  const definition = findEntrypoint(container, method, 'entrypointHook');
  const invoke = async (args: unknown[], kwargs: Record<string, unknown>): Promise<EntrypointResult<S, K>> => {
    if (container.state !== 'running') {
      throw new EnokiError('ENOKI_ERR_CONTAINER_STATE', [
        container.serviceName,
        container.state,
        `entrypointHook cannot call ${definition.methodName}: await container.start() first`,
      ]);
    }
    const bound = bindArguments(definition.signature, args, kwargs);
    const outcome = await container.spawnWorker(definition, bound, { entrypoint: 'direct', contextData: options.contextData });
    if (outcome.error) throw outcome.error;
    return outcome.result as EntrypointResult<S, K>;
  };
  const hook = ((...args: unknown[]) => invoke(args, {})) as EntrypointHook<EntrypointArgs<S, K>, EntrypointResult<S, K>>;
  // Shadows Function.prototype.call on purpose, the same shape as a proxy's RemoteMethod.
  Object.defineProperty(hook, 'call', { value: (args: unknown[], kwargs: Record<string, unknown> = {}) => invoke(args, kwargs) });
  return hook;
}
