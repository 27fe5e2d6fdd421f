// Keys that are almost enoki's. A config keeps keys enoki does not know (user code reads
// them, as in nameko), so `AMQP_URL:` would otherwise be kept silently and the service
// would connect to the default broker. Near-misses of enoki's keys are pointed out.

import { KNOWN_KEYS } from './config-schema.js';

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[s.length]![t.length]!;
}

/** The one of `candidates` that `key` is a likely typo of, if any: within 1 edit, or 2 for longer keys. */
export function closestKey(key: string, candidates: readonly string[]): string | undefined {
  const budget = key.length >= 6 ? 2 : 1;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of candidates) {
    if (candidate === key) return undefined;
    const distance = editDistance(key, candidate);
    if (distance <= budget && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/** What is wrong with a top-level key enoki does not read: an error, a warning, or nothing. */
export function unknownTopLevelKey(key: string): { error: string } | { warning: string } | undefined {
  if (KNOWN_KEYS.includes(key)) return undefined;
  const sameLetters = KNOWN_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
  // A key that differs only in case is certainly meant as enoki's: refuse it.
  if (sameLetters) return { error: `unknown key; did you mean ${sameLetters}? config keys are case-sensitive` };
  const near = closestKey(key, KNOWN_KEYS);
  if (near) return { warning: `${key} is not an enoki key; did you mean ${near}? (kept as it is for your own code)` };
  return undefined;
}

/** The hint for an unknown key inside one of enoki's sections. */
export function sectionKeyHint(key: string, allowed: readonly string[]): string {
  const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  if (snake !== key && allowed.includes(snake)) return ` (did you mean ${snake}? keys in config are snake_case)`;
  const near = closestKey(key, allowed);
  return near ? ` (did you mean ${near}?)` : '';
}
