// One registry per process, whichever copy of enoki wrote to it.
//
// Decorators run when the user's module is evaluated, and the runner reads their marks
// later: both must see the same table even when the two sides come from different module
// instances (a CommonJS service that `require`s enoki while the CLI `import`ed it, a
// bundler that inlined one copy, a test runner that re-evaluates modules per file). So the
// table lives on globalThis under a `Symbol.for` key, not in a module-level variable.
//
// A second *installed* copy (another path on disk) is a different matter: its classes
// (DependencyProvider, the errors) are not the first copy's, so `instanceof` and the
// worker pool would be split in two. The first module of each copy to load records its
// own URL here; a copy that finds another copy's URL refuses to load, naming both
// (ENOKI_ERR_DUPLICATE_COPY). The same URL evaluated again (vitest's per-file module
// isolation, a hot reload) is the same copy and is allowed.

import { EnokiError } from './errors.js';

/** What decorators record about one method (see decorators.ts for the fields). */
export interface RegistryMarks {
  methodName: string;
}

interface ProcessRegistry<M extends RegistryMarks> {
  /** Bumped when the shape of the table changes, so two versions never read each other's. */
  readonly version: 1;
  /** The module URL of the copy that created the registry. */
  readonly owner: string;
  /** Method marks by the method's function object. */
  readonly marks: WeakMap<Function, M>;
}

const KEY = Symbol.for('enoki.process-registry');

/** Where this copy of enoki lives: the URL of this very module. */
const HERE = import.meta.url;

/** The process-wide registry; the first copy to ask creates it, later copies must be the same one. */
export function processRegistry<M extends RegistryMarks>(): ProcessRegistry<M> {
  const global = globalThis as Record<symbol, unknown>;
  let registry = global[KEY] as ProcessRegistry<M> | undefined;
  if (!registry) {
    registry = { version: 1, owner: HERE, marks: new WeakMap() };
    Object.defineProperty(global, KEY, { value: registry, enumerable: false, configurable: true, writable: false });
  } else if (registry.owner !== HERE) {
    throw new EnokiError('ENOKI_ERR_DUPLICATE_COPY', [registry.owner, HERE]);
  }
  return registry;
}

// Evaluated when the module loads, so a second copy is refused at its first import rather
// than at the first decorator it runs.
processRegistry();
