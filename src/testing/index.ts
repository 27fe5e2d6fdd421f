// enoki/testing: what a service's own tests need, shipped to users as nameko ships
// nameko.testing. Nothing here imports a test framework; pass in what must come from one
// (`afterEach`, a spy factory such as `vi.fn`).
//
// enoki's types use Node's (servers, sockets, worker threads): the reference below is kept in
// the emitted .d.ts, so a user's project has them even with `"types": []`, from the
// @types/node that enoki depends on.
/// <reference types="node" preserve="true" />

export { workerFactory, type DependencyOverrides } from './worker-factory.js';
export { recorder, type RecordingFunction, type FakeOptions, type MockFactory, type AnyFunction } from './fakes.js';
export { entrypointHook, type EntrypointHook, type EntrypointHookOptions } from './entrypoint-hook.js';
export { entrypointWaiter, EntrypointWaiterTimeout, type EntrypointWaiterOptions } from './entrypoint-waiter.js';
export { replaceDependencies, type ReplacedDependencies } from './replace-dependencies.js';
export { restrictEntrypoints } from './restrict-entrypoints.js';
export { serviceFixtures, type ServiceFixtures, type ServiceFixtureOptions, type ContainerFixtureOptions, type AfterEachHook } from './fixtures.js';
export type { EntrypointName, EntrypointArgs, EntrypointResult, MethodKeys } from './entrypoints.js';
export { resetMemoryBroker } from '../transport/memory-transport.js';
