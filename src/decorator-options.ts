// Options objects given to decorators are checked at class definition time: an option
// enoki does not know is a mistake (`@rpc({ sensitiveArgs: [...] })` would otherwise be
// accepted and ignored, and the password logged), so it is a coded error with a
// did-you-mean, not silence.

import { EnokiError } from './errors.js';

/**
 * Throws ENOKI_ERR_DECORATOR_USAGE for a key of `options` that is not in `known`, naming
 * the closest known one when it is a likely typo.
 */
export function checkDecoratorOptions(decorator: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, String(options), `its options are an object with ${known.join(', ')}`]);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, key, `unknown option ${JSON.stringify(key)}${guess ? ` (did you mean ${guess}?)` : ''}; its options are ${known.join(', ')}`]);
  }
}

/**
 * For a decorator whose options enoki cannot list (a user's entrypoint kind that declares
 * none): throws ENOKI_ERR_DECORATOR_USAGE for a key that looks like a misspelt
 * `sensitiveArguments`, the one option whose silent loss puts secrets in the log.
 */
export function checkSensitiveSpelling(decorator: string, options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return;
  for (const key of Object.keys(options)) {
    if (key !== 'sensitiveArguments' && closest(key, ['sensitiveArguments']) !== undefined) {
      throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, key, `unknown option ${JSON.stringify(key)} (did you mean sensitiveArguments?)`]);
    }
  }
}

/** The known name within a third of its length in edits (case-insensitive), if any. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = distance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** Levenshtein distance, two rows. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
