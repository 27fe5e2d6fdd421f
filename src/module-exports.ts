// A module's exports by name, for finding a service class in it: used by `enoki run` on
// the main thread and by pool threads, which must find the same class. No socket here.

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
