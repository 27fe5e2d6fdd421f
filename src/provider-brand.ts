// How a service field is recognised as a dependency provider: a brand on
// DependencyProvider.prototype rather than `instanceof`, so that defineService need not
// import dependency-provider.ts (which imports the extension host's types, which import
// the service definition: a cycle), and so that a provider made by another copy of enoki
// loaded in the same process is still recognised.

/** Set to true on DependencyProvider.prototype. */
export const PROVIDER_BRAND: unique symbol = Symbol.for('enoki.dependencyProvider') as never;

/** True for an instance of DependencyProvider (from any copy of enoki). */
export function isDependencyProvider(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PROVIDER_BRAND] === true;
}
