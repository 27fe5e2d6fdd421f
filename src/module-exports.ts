// A module's exports by name, for finding a service class in it: used by `enoki run` on
// the main thread and by pool threads, which must find the same class. No socket here.

import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Loads a user's module (a path or a file URL) the way Node runs it. A `.cjs` or `.cts` file
 * is CommonJS and goes through Node's `require`, not `import()`: on Node 20, a CommonJS
 * module that a loader hook (tsx, for `.cts`) hands to `import()` gets the ESM loader's own
 * `require`, which cannot load an ES module such as enoki ("Cannot read properties of
 * undefined (reading 'exports')"). Node's `require` can (`require(esm)`, Node >= 20.19; and
 * tsx's require hook, which typescript-loader.ts points at this copy of enoki).
 */
export async function importModule(pathOrUrl: string): Promise<Record<string, unknown>> {
  const path = pathOrUrl.startsWith('file:') ? fileURLToPath(pathOrUrl) : pathOrUrl;
  if (/\.c[jt]s$/i.test(path)) return { default: createRequire(path)(path) as unknown };
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

/**
 * The named exports of a module namespace. A CommonJS module (a `.cjs` file, or a `.ts`
 * or `.js` one in a `"type": "commonjs"` project) whose exports Node cannot read off its
 * source statically has them only under `default` (`module.exports`): those are merged in,
 * and a class exported as `module.exports = Greeter` (or `export default class Greeter`)
 * is found under its own name. Named exports win over the merged ones.
 */
export function moduleExports(ns: Record<string, unknown>): Record<string, unknown> {
  const fallback = ns.default;
  const out: Record<string, unknown> = {};
  if (typeof fallback === 'function' && fallback.name) out[fallback.name] = fallback;
  else if (typeof fallback === 'object' && fallback !== null) Object.assign(out, fallback);
  for (const [key, value] of Object.entries(ns)) out[key] = value;
  return out;
}
