// Which dependency values travel to a pool thread by value.
//
// A dependency that is plain data (a config section, a feature-flag map) is cloned into
// the task, so `this.settings.limit` reads the same in a thread as inline. Anything with
// behaviour (a logger, an RpcProxy, a database pool) stays on the main thread and is
// reached through comlink; cloning it would silently drop its methods (structured clone
// keeps own data fields only) or fail.

import { types } from 'node:util';

// Past this many nodes a value is served remotely instead: checking it on every call
// would cost the main thread more than the remote reads it saves.
const NODE_BUDGET = 2_000;

const verdicts = new WeakMap<object, boolean>();

export function isPlainData(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return isPlainLeaf(value);
  const cached = verdicts.get(value);
  if (cached !== undefined) return cached;
  const budget = { left: NODE_BUDGET };
  const verdict = walk(value, budget, new Set());
  // Dependencies usually hand out the same object on every call (a config section).
  verdicts.set(value, verdict);
  return verdict;
}

function isPlainLeaf(value: unknown): boolean {
  const type = typeof value;
  return type === 'undefined' || type === 'string' || type === 'number' || type === 'boolean' || type === 'bigint' || value === null;
}

function walk(value: unknown, budget: { left: number }, seen: Set<object>): boolean {
  if (--budget.left < 0) return false;
  if (value === null || typeof value !== 'object') return isPlainLeaf(value);
  // A Proxy (an RpcProxy is one) reports its target's prototype and keys: never data.
  if (types.isProxy(value)) return false;
  if (seen.has(value)) return true; // structured clone keeps cycles
  seen.add(value);
  if (types.isDate(value) || types.isRegExp(value) || types.isAnyArrayBuffer(value) || ArrayBuffer.isView(value)) return true;
  if (value instanceof Map) {
    for (const [k, v] of value) if (!walk(k, budget, seen) || !walk(v, budget, seen)) return false;
    return true;
  }
  if (value instanceof Set) {
    for (const v of value) if (!walk(v, budget, seen)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null && !Array.isArray(value)) return false;
  for (const key of Object.keys(value)) {
    const desc = Object.getOwnPropertyDescriptor(value, key)!;
    // A getter computes: that is behaviour, and clone would freeze one reading of it.
    if (!('value' in desc) || !walk(desc.value, budget, seen)) return false;
  }
  return true;
}
