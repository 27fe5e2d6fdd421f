// workerFactory: nameko's worker_factory. A service instance to call methods on directly,
// no container, no broker: every dependency field holds a fake (or the override given),
// and no provider lifecycle or worker hook runs. For the real call path (hooks, injected
// values, @cpuBound) start a container and use entrypointHook instead.

import { defineService, type ServiceClass } from '../service-definition.js';
import { isDependencyProvider, type DependencyProvider } from '../dependency-provider.js';
import { fakeFor, type FakeOptions } from './fakes.js';
import { notDependencies } from './usage-error.js';

/** Values for some dependency fields, by field name. Values are loose on purpose: fakes are usually partial. */
export type DependencyOverrides<S> = { [K in keyof S]?: unknown };

/**
 *     const worker = workerFactory(Service2, { other_rpc: { hello: vi.fn(async () => 'hi') } });
 *     expect(await worker.hello_service2('x')).toBe('hi');
 *
 *     const worker = workerFactory(Service2, {}, { mockFn: vi.fn });
 *     await worker.hello_service2('x');
 *     expect(worker.other_rpc.hello).toHaveBeenCalledWith('x');
 *
 * A field not overridden gets a fake whose every property is a recording function (for an
 * RpcProxy field, `hello.callAsync(...)` records on `hello` too). Overriding a field that
 * is not a declared dependency throws: a typo would otherwise leave the real field alone.
 */
export function workerFactory<S>(cls: ServiceClass<S>, overrides: DependencyOverrides<S> = {}, options: FakeOptions = {}): S {
  const definition = defineService(cls);
  const known = new Set(definition.dependencyNames);
  const unknown = Object.keys(overrides).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw notDependencies(`workerFactory(${definition.name})`, unknown, known, '. Plain fields can be assigned on the returned instance.');
  }
  const instance = new cls() as Record<string, unknown>;
  for (const name of definition.dependencyNames) {
    const provider = instance[name];
    instance[name] = Object.hasOwn(overrides, name)
      ? (overrides as Record<string, unknown>)[name]
      : fakeFor(isDependencyProvider(provider) ? provider : undefined, name, options);
  }
  return instance as S;
}
