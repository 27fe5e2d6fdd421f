// `${VAR}` / `${VAR:default}` in config values, as nameko does, with defaults that may
// themselves hold references (`${A:${B:x}}`: A, else B, else x). A default is evaluated
// only when its variable is unset, so `${A:${B}}` with A set needs no B.

import yaml from 'js-yaml';
import { EnokiError } from './errors.js';

/** Where substitution runs: the file (for messages) and the variables. */
export interface SubstituteContext {
  readonly source: string;
  readonly env: NodeJS.ProcessEnv;
}

// nameko configs may tag scalars explicitly: `!env_var` behaves like an untagged scalar,
// `!raw_env_var` is interpolated but never YAML-parsed (keeps `${PIN}` = "0123" a string).
// Without these types js-yaml would reject such a nameko config.yaml outright.
class TaggedScalar {
  constructor(
    readonly text: string,
    readonly raw: boolean,
  ) {}
}

/** js-yaml's default schema plus nameko's `!env_var` and `!raw_env_var` tags. */
export const FILE_SCHEMA = yaml.DEFAULT_SCHEMA.extend([
  new yaml.Type('!env_var', { kind: 'scalar', construct: (data: unknown) => new TaggedScalar(String(data ?? ''), false) }),
  new yaml.Type('!raw_env_var', { kind: 'scalar', construct: (data: unknown) => new TaggedScalar(String(data ?? ''), true) }),
]);

type Part = string | Reference;
interface Reference {
  name: string;
  fallback: Part[] | undefined;
}

/** `text` as literal parts and references; an unterminated or nameless `${` stays literal. */
function parse(text: string, start = 0, nested = false): { parts: Part[]; end: number } {
  const parts: Part[] = [];
  let literal = '';
  let i = start;
  while (i < text.length) {
    if (nested && text[i] === '}') break;
    if (text.startsWith('${', i)) {
      const ref = parseReference(text, i);
      if (ref) {
        if (literal) parts.push(literal);
        literal = '';
        parts.push(ref.reference);
        i = ref.end;
        continue;
      }
    }
    literal += text[i];
    i++;
  }
  if (literal) parts.push(literal);
  return { parts, end: i };
}

function parseReference(text: string, at: number): { reference: Reference; end: number } | undefined {
  const name = /^[^}{:]+/.exec(text.slice(at + 2))?.[0];
  if (!name) return undefined;
  let i = at + 2 + name.length;
  if (text[i] === '}') return { reference: { name, fallback: undefined }, end: i + 1 };
  if (text[i] !== ':') return undefined;
  const inner = parse(text, i + 1, true);
  if (text[inner.end] !== '}') return undefined;
  return { reference: { name, fallback: inner.parts }, end: inner.end + 1 };
}

function evaluate(parts: Part[], lookup: (name: string) => string | undefined, missing: (name: string) => never): string {
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const value = lookup(part.name);
      if (value !== undefined) return value;
      if (part.fallback !== undefined) return evaluate(part.fallback, lookup, missing);
      return missing(part.name);
    })
    .join('');
}

/** Substitute every string in `node` (a parsed YAML file or a mapping given in code); `path` names it in errors. */
export function substitute(node: unknown, path: string, ctx: SubstituteContext): unknown {
  if (typeof node === 'string') return substituteText(node, false, path, ctx);
  if (node instanceof TaggedScalar) return substituteText(node.text, node.raw, path, ctx);
  if (Array.isArray(node)) return node.map((item, i) => substitute(item, `${path}[${i}]`, ctx));
  if (isPlainObject(node)) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) setOwn(out, key, substitute(value, path === '' ? key : `${path}.${key}`, ctx));
    return out;
  }
  // Dates, numbers, class instances handed in by code: nothing to substitute.
  return node;
}

function substituteText(text: string, raw: boolean, path: string, ctx: SubstituteContext): unknown {
  // Object.hasOwn: a variable called `constructor` must not find Object.prototype's.
  const lookup = (name: string): string | undefined => (Object.hasOwn(ctx.env, name) ? ctx.env[name] : undefined);
  const missing = (name: string): never => {
    throw new EnokiError('ENOKI_ERR_CONFIG_VAR', [path, ctx.source, name]);
  };
  const { parts } = parse(text);
  const value = evaluate(parts, lookup, missing);
  // The whole scalar was one `${...}`: give it YAML's type, as nameko does, so
  // `${PORT:5672}` is a number and `${X:null}` is null.
  return !raw && parts.length === 1 && typeof parts[0] !== 'string' ? parseScalar(value) : value;
}

/**
 * A scalar from the environment, typed as YAML would type it. A value that is not valid
 * YAML (a password such as `a: b: c`) stays the string it was rather than failing the load.
 */
export function parseScalar(text: string): unknown {
  try {
    const value = yaml.load(text, { schema: yaml.DEFAULT_SCHEMA });
    return value === undefined ? null : value;
  } catch {
    return text;
  }
}

/** A mapping as YAML and JSON make them (not a class instance, a list or a date). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Set an own property. Plain assignment of a key named `__proto__` would replace the
 * prototype instead of keeping the user's key.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
