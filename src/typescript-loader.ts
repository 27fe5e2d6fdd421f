// Loading the user's TypeScript: the one place enoki needs TypeScript tooling at run time.
//
// enoki itself ships compiled JavaScript. When `enoki run` (or a pool thread) is handed a
// `.ts`, `.mts` or `.cts` module, tsx's loader is registered in that thread first, once:
// it compiles the user's file with the user's tsconfig (both decorator dialects, paths),
// for ESM and CommonJS alike. Plain JavaScript services never load tsx.
//
// One copy of enoki: a `.ts` file in a `"type": "commonjs"` project is compiled to
// CommonJS, and its `require('enoki')` goes through tsx's require hook, which would
// compile enoki's own ESM files into a second, CommonJS copy of the runtime (its own
// ServiceContainer, error classes and worker pool). So before any user module loads, the
// require cache is given this copy's public entry points, as the very module namespaces
// that `import` returns: `require('enoki')` and `import 'enoki'` are then one instance,
// as they are natively on Node >= 20.19 without tsx.
//
// No socket here: pool threads (workers/) import this.

import Module, { createRequire } from 'node:module';

import { pathToFileURL } from 'node:url';

const REGISTERED = Symbol.for('enoki.typescript-loader');

/** The package's public entry points, as `exports` in package.json names them. */
const PUBLIC_ENTRIES = ['enoki', 'enoki/testing', 'enoki/fastify', 'enoki/express'];

/** True for a path or URL that names a TypeScript module. */
export function isTypeScriptModule(pathOrUrl: string): boolean {
  return /\.[cm]?ts$/i.test(pathOrUrl.replace(/[?#].*$/, ''));
}

/**
 * Registers tsx's ESM and CommonJS hooks in this thread, once, after pointing the
 * require cache at this copy of enoki. A thread that has the hooks already (enoki's own
 * repository, bin/enoki.js in source mode) marks itself with the same symbol and is left
 * alone.
 */
export async function ensureTypeScriptLoader(): Promise<void> {
  const global = globalThis as Record<symbol, unknown>;
  if (global[REGISTERED]) return;
  global[REGISTERED] = true;
  await shareWithRequire();
  const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
  esm.register();
  cjs.register();
}

/** Puts this copy's entry points into the require cache (compiled builds only). */
async function shareWithRequire(): Promise<void> {
  // From source (this repository) there is no compiled copy to protect, and the
  // package's exports name dist/, which may not even be built.
  if (import.meta.url.endsWith('.ts')) return;
  const require = createRequire(import.meta.url);
  for (const entry of PUBLIC_ENTRIES) {
    const file = require.resolve(entry);
    if (require.cache[file]) continue;
    const namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    const cached = new Module(file);
    cached.filename = file;
    cached.exports = namespace;
    cached.loaded = true;
    require.cache[file] = cached;
  }
}
