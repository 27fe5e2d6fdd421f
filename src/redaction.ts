// Sensitive arguments, as nameko's `sensitive_arguments`: named on the entrypoint's
// decorator, masked in everything enoki logs and in what dependencies read for logging
// (`ctx.redactedArgs`), never in what the method receives.
//
// A path names a parameter, then fields and list elements inside it:
//
//   'password'                 the parameter `password`
//   'credentials.password'     a field of the parameter `credentials`
//   'cards[].number'           `number` in every element of the list `cards`
//   'cards[0].number'          in the first element only (nameko's `cards[0]` form)
//   '0.token'                  by position: the first argument's `token` (how @http names
//                              body fields: its paths are relative to `request.body`)
//
// Redaction copies only what it masks (along each path); everything else is shared with
// the real arguments, so a call with nothing sensitive costs nothing.

import { EnokiError } from './errors.js';

/** What a masked value reads as (nameko's REDACTED). */
export const REDACTED = '********';

/** One step of a {@link SensitivePath} below its parameter: a field, a list index, or every element. */
export type Segment = { field: string } | { index: number } | { each: true };

/** A validated path: its parameter (by name or position) and the segments below it. */
export interface SensitivePath {
  readonly text: string;
  readonly param: string | number;
  readonly segments: readonly Segment[];
}

const SEGMENT = /^([A-Za-z_$][\w$-]*)((?:\[\d*\])*)$/;

/** Parses and checks `sensitiveArguments` paths; a malformed one is a decorator usage error. */
export function parseSensitivePaths(decorator: string, paths: unknown): SensitivePath[] {
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p.length > 0)) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, String(paths), 'sensitiveArguments is a list of parameter names or paths, e.g. [\'password\', \'credentials.token\', \'cards[].number\']']);
  }
  return (paths as string[]).map((text) => {
    const parts = text.split('.');
    const segments: Segment[] = [];
    let param: string | number | undefined;
    for (const part of parts) {
      const positional = param === undefined && /^\d+$/.test(part);
      const m = positional ? null : SEGMENT.exec(part);
      if (!positional && !m) {
        throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', [decorator, text, `"${part}" is not a name, name[] or name[n]`]);
      }
      if (param === undefined) param = positional ? Number(part) : m![1]!;
      else segments.push({ field: m![1]! });
      for (const bracket of m?.[2]?.match(/\[\d*\]/g) ?? []) {
        segments.push(bracket === '[]' ? { each: true } : { index: Number(bracket.slice(1, -1)) });
      }
    }
    return { text, param: param!, segments };
  });
}

/**
 * The arguments with every sensitive path masked, or `args` itself when nothing is
 * sensitive. `params` are the method's parameter names, in order.
 */
export function redactArgs(args: readonly unknown[], params: readonly string[], paths: readonly SensitivePath[]): readonly unknown[] {
  if (paths.length === 0) return args;
  let out: unknown[] | undefined;
  for (const path of paths) {
    const i = typeof path.param === 'number' ? path.param : params.indexOf(path.param);
    if (i < 0 || i >= args.length) continue;
    out ??= [...args];
    out[i] = maskAt(out[i], path.segments, 0);
  }
  return out ?? args;
}

/** `value` with what `segments` reach masked: copies on the way down, shares the rest. */
function maskAt(value: unknown, segments: readonly Segment[], depth: number): unknown {
  if (depth === segments.length) return value === undefined ? value : REDACTED;
  const segment = segments[depth]!;
  if ('field' in segment) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, segment.field)) return value;
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    copy[segment.field] = maskAt(copy[segment.field], segments, depth + 1);
    return copy;
  }
  if (!Array.isArray(value)) return value;
  if ('each' in segment) return value.map((item) => maskAt(item, segments, depth + 1));
  if (segment.index >= value.length) return value;
  const copy = [...value];
  copy[segment.index] = maskAt(copy[segment.index], segments, depth + 1);
  return copy;
}
