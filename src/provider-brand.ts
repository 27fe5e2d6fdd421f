// How a service field is recognised as a dependency provider: a brand on
// DependencyProvider.prototype rather than `instanceof`, so that a provider class from a
// module that loaded enoki another way (a CommonJS `require` beside the CLI's `import`) is
// still recognised. In a file of its own so that defineService can read it without
// importing dependency-provider.ts (which imports the extension host's types, which import
// the service definition: a cycle).

/** Set to true on DependencyProvider.prototype. */
export const PROVIDER_BRAND: unique symbol = Symbol.for('enoki.dependency-provider') as never;

/** True for an instance of any DependencyProvider subclass (dependency-provider.ts types it as one). */
export function hasProviderBrand(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PROVIDER_BRAND] === true;
}
