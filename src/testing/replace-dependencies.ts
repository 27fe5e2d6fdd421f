// replaceDependencies: nameko's replace_dependencies. Before a container starts, swap
// dependency providers for fixed values (fakes by default). The replaced provider is gone
// from the container: its setup/start/stop and its worker hooks never run, so an RpcProxy
// replaced this way needs no reply queue and a service whose only broker use was that
// proxy can be tested on memory:// with no other service running.

import { DependencyProvider } from '../dependency-provider.js';
import type { ServiceContainer } from '../service-container.js';
import type { WorkerContext } from '../worker-context.js';
import { assertNotStarted } from './container-state.js';
import { fakeFor, type AnyFunction, type FakeOptions } from './fakes.js';
import { notDependencies, usageError } from './usage-error.js';

/** Every call gets the same value, so the test sees what every worker did to it. */
class ReplacementProvider extends DependencyProvider {
  constructor(readonly value: unknown) {
    super();
  }

  getDependency(_ctx: WorkerContext): unknown {
    return this.value;
  }
}

type FieldName<S> = unknown extends S ? string : keyof S & string;

/** The fakes made for `names`, typed as what the fields inject (so `vi.mocked(fakes.rpc.hello)` works). */
export type ReplacedDependencies<S, N extends string> = unknown extends S
  ? { [K in N]: Record<string, AnyFunction> }
  : { [K in N]: K extends keyof S ? S[K] : never };

/**
 *     const { other_rpc } = replaceDependencies(container, 'other_rpc', { mockFn: vi.fn });
 *     replaceDependencies(container, ['other_rpc', 'db']);
 *     replaceDependencies(container, { other_rpc: { hello: async () => 'stub' } });
 *     await container.start();
 *
 * Names get fakes (see workerFactory) and are returned by name; an object's values are used
 * as given and the object is returned.
 */
export function replaceDependencies<S, N extends FieldName<S>>(
  container: ServiceContainer<S>,
  names: N | readonly N[],
  options?: FakeOptions,
): ReplacedDependencies<S, N>;
export function replaceDependencies<S, R extends { [K in FieldName<S>]?: unknown }>(container: ServiceContainer<S>, replacements: R): R;
export function replaceDependencies(
  container: ServiceContainer<unknown>,
  spec: string | readonly string[] | Record<string, unknown>,
  options: FakeOptions = {},
): Record<string, unknown> {
  assertNotStarted(container, 'replaceDependencies');
  const providers = container.providers;
  const replacements: Record<string, unknown> = {};
  if (typeof spec === 'string' || Array.isArray(spec)) {
    for (const name of typeof spec === 'string' ? [spec] : (spec as readonly string[])) {
      replacements[name] = fakeFor(providers.get(name), name, options);
    }
  } else if (spec !== null && typeof spec === 'object') {
    Object.assign(replacements, spec);
  } else {
    throw usageError(`replaceDependencies(${container.serviceName})`, 'expected a field name, a list of names or an object of replacements');
  }

  const unknown = Object.keys(replacements).filter((name) => !providers.has(name));
  if (unknown.length > 0) {
    throw notDependencies(`replaceDependencies(${container.serviceName})`, unknown, providers.keys());
  }
  // The container exposes its providers read-only because nothing but a test should swap
  // one; the map itself is the container's own, as nameko's replace_dependencies edits
  // container.dependencies.
  const table = providers as Map<string, DependencyProvider>;
  for (const [name, value] of Object.entries(replacements)) {
    const replacement = new ReplacementProvider(value);
    replacement.container = container;
    replacement.attrName = name;
    table.set(name, replacement);
  }
  return typeof spec === 'string' || Array.isArray(spec) ? replacements : (spec as Record<string, unknown>);
}
