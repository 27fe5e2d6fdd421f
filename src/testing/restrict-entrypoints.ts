// restrictEntrypoints: nameko's restrict_entrypoints. Before a container starts, keep only
// the named entrypoints; the others are not served (an RPC call to one gets
// MethodNotFound, as to a method that does not exist). Useful when a test must be sure
// that only the code it exercises can be reached.

import type { ServiceContainer } from '../service-container.js';
import type { ServiceDefinition } from '../service-definition.js';
import { assertNotStarted } from './container-state.js';
import { findEntrypoint, type EntrypointName } from './entrypoints.js';

/**
 * nameko's restrict_entrypoints: before the container starts, keep only the entrypoints
 * named (by method name, whatever their RPC names); the others are not served, and an RPC
 * call to one gets MethodNotFound, as for a method that does not exist. For a test that
 * must be sure only the code it exercises can be reached.
 *
 *     restrictEntrypoints(container, 'hello');
 *     await container.start();
 *
 * Throws when the container is running (call it before `start()`) or a name is not an
 * entrypoint of the service.
 */
export function restrictEntrypoints<S>(container: ServiceContainer<S>, ...methods: EntrypointName<S>[]): void {
  assertNotStarted(container, 'restrictEntrypoints');
  const keep = new Set(methods.map((name) => findEntrypoint(container, name, 'restrictEntrypoints').methodName));
  const definition = container.definition;
  // The definition is cached per class and shared by every container of it, so this
  // container gets its own narrowed copy instead of an edit to the shared one. Entrypoints
  // are made from it at start, whatever their kind.
  const kept = new Map([...definition.methods].filter(([, method]) => keep.has(method.methodName)));
  const restricted: ServiceDefinition = { ...definition, methods: kept };
  (container as { definition: ServiceDefinition }).definition = restricted;
}
