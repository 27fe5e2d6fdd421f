// Shared by the helpers that name an entrypoint: the types that check a method name
// against the service class, and the lookup whose error lists what does exist.

import type { ServiceContainer } from '../service-container.js';
import type { MethodDefinition } from '../service-definition.js';
import type { AnyFunction } from './fakes.js';
import { usageError } from './usage-error.js';

/** The names of S's methods: its string keys whose values are functions. */
export type MethodKeys<S> = { [K in keyof S]-?: S[K] extends AnyFunction ? K : never }[keyof S] & string;

/** A method name of service S; any string when the container's class is not known statically. */
export type EntrypointName<S> = unknown extends S ? string : MethodKeys<S>;

/** The arguments of S[K], or unknown[] for an untyped container. */
export type EntrypointArgs<S, K> = unknown extends S ? unknown[] : K extends keyof S ? (S[K] extends (...args: infer A) => unknown ? A : never) : never;

/** What S[K] resolves to, or unknown for an untyped container. */
export type EntrypointResult<S, K> = unknown extends S ? unknown : K extends keyof S ? (S[K] extends (...args: never[]) => infer R ? Awaited<R> : never) : never;

/**
 * The entrypoint with method name `name` (as nameko's helpers name it, whatever its RPC
 * name). Entrypoints removed by restrictEntrypoints are not found.
 */
export function findEntrypoint(container: ServiceContainer<unknown>, name: string, helper: string): MethodDefinition {
  const { methods } = container.definition;
  const found = methods.get(name);
  if (found) return found;
  const known = [...methods.keys()];
  throw usageError(
    `${helper}(${container.serviceName}, ${JSON.stringify(name)})`,
    `the service has no such entrypoint; its entrypoints are ${known.length > 0 ? known.join(', ') : '(none)'}` +
      ' (a method needs an entrypoint decorator such as @rpc, @http, @eventHandler or @timer, and restrictEntrypoints removes the others)',
  );
}
