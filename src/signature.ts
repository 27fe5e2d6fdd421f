// Maps a nameko request's `{"args": [...], "kwargs": {...}}` onto a JS method's
// parameters. JS keeps no parameter names at run time, so they are read from the
// method's source text. Arity errors copy nameko's wording: nameko checks calls with
// `inspect.getcallargs(fn, None, *args, **kwargs)`, so its messages use the bare method
// name, count `self` as one more positional argument, and list three missing names as
// `'a', 'b' and 'c'` (getcallargs has no Oxford comma, unlike CPython's own call check).

import { IncorrectSignature } from './errors.js';

/** One parameter of a method, as read from its source. */
export interface ParamInfo {
  /** undefined for destructured patterns: those cannot be passed by keyword. */
  name: string | undefined;
  /** It has a default value (`x = 1`). */
  hasDefault: boolean;
  /** It is a rest parameter (`...xs`). */
  rest: boolean;
}

/** A method's parameters, read from its source: how keyword arguments are bound to them. */
export interface Signature {
  /** The method's name, for error messages. */
  readonly method: string;
  /** Its parameters, in order. */
  readonly params: readonly ParamInfo[];
  /** Params before the first default or rest; equals `fn.length`. */
  readonly required: number;
  /** It ends with a rest parameter. */
  readonly hasRest: boolean;
}

// --- Reading parameters from source ----------------------------------------------------

const cache = new WeakMap<Function, Signature>();

/**
 * Read parameter names from `fn.toString()`: methods, async/generator methods, functions
 * and arrows, pretty or minified. Throws TypeError when the source cannot be read; the
 * caller knows the service class and should wrap it in a coded error.
 */
export function readSignature(fn: Function, method?: string): Signature {
  const name = method ?? (fn.name || '<anonymous>');
  let sig = cache.get(fn);
  if (sig === undefined) {
    sig = parse(fn, name);
    cache.set(fn, sig);
  }
  return sig.method === name ? sig : Object.freeze({ ...sig, method: name });
}

function parse(fn: Function, method: string): Signature {
  const src = Function.prototype.toString.call(fn);
  let params: ParamInfo[];
  if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) {
    // Bound and native functions hide their source; only the count survives.
    params = Array.from({ length: fn.length }, () => ({ name: undefined, hasDefault: false, rest: false }));
  } else {
    params = readParams(src).map(readParam);
  }
  let required = params.findIndex((p) => p.hasDefault || p.rest);
  if (required < 0) required = params.length;
  // fn.length is the engine's own count: disagreement means we misread the source, or
  // `fn` is a wrapper that copied another function's length. Binding by wrong names
  // would be worse than failing at startup.
  if (required !== fn.length) {
    throw new TypeError(`cannot read the parameters of ${method}(): found ${required} required, fn.length is ${fn.length}`);
  }
  return Object.freeze({
    method,
    params: Object.freeze(params.map((p) => Object.freeze(p))),
    required,
    hasRest: params.some((p) => p.rest),
  });
}

/** Split the parameter list into the source text of each parameter. */
function readParams(src: string): string[] {
  const head = findListStart(src);
  if (typeof head === 'string') return [head]; // `a => ...`
  const segments: string[] = [];
  let from = head + 1;
  const close = scanCode(src, from, ')', (ch, at) => {
    if (ch === ',') {
      segments.push(src.slice(from, at));
      from = at + 1;
    }
  });
  segments.push(src.slice(from, close));
  // A trailing comma or `()` leaves an empty last segment.
  return segments.filter((s) => stripLeadingTrivia(s) !== '');
}

/** Index of the list's `(`, or the parameter's text for a paren-less arrow. */
function findListStart(src: string): number | string {
  let depth = 0; // computed keys `[k](a) {}` contain parens of their own
  let prev = -1;
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const end = skipLiteral(src, i, prev);
    if (end !== i) { if (!isComment(src, i)) prev = end - 1; i = end; continue; }
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (depth === 0 && c === '(') return i;
    else if (depth === 0 && c === '=' && src[i + 1] === '>') {
      const ident = /([\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)\s*$/u.exec(stripComments(src.slice(0, i)));
      if (ident) return ident[1]!;
      break;
    }
    prev = i;
    i++;
  }
  throw new TypeError(`cannot find a parameter list in: ${src.slice(0, 80)}`);
}

function readParam(text: string): ParamInfo {
  let hasDefault = false;
  // Only the first top-level `=` matters: it can only be the default's `=`.
  let end = text.length;
  scanCode(text + ')', 0, ')', (ch, at) => {
    if (ch === '=' && !hasDefault) { hasDefault = true; end = at; }
  });
  let pattern = stripLeadingTrivia(text.slice(0, end));
  const rest = pattern.startsWith('...');
  if (rest) pattern = stripLeadingTrivia(pattern.slice(3));
  const ident = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/u.exec(pattern);
  // `{a}` / `[a]` patterns start with a bracket and so match no identifier.
  return { name: ident?.[0], hasDefault, rest };
}

// --- A small scanner: enough JS lexing to find brackets and commas that are code ----------

/**
 * Walk code from `i` to the unmatched `close`, skipping strings, templates, comments,
 * regexes and nested brackets; report top-level `,` and `=` to `onTop`. Returns the
 * index of `close`.
 */
function scanCode(src: string, i: number, close: string, onTop?: (ch: string, at: number) => void): number {
  let depth = 0;
  let prev = -1;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const end = skipLiteral(src, i, prev);
    if (end !== i) { if (!isComment(src, i)) prev = end - 1; i = end; continue; }
    if (depth === 0 && c === close) return i;
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && (c === ',' || c === '=')) onTop?.(c, i);
    prev = i;
    i++;
  }
  throw new TypeError(`unbalanced source, expected ${close}: ${src.slice(0, 80)}`);
}

/** If a string, template, comment or regex starts at `i`, the index just past it; else `i`. */
function skipLiteral(src: string, i: number, prev: number): number {
  const c = src[i];
  if (c === '"' || c === "'") {
    let j = i + 1;
    while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
    return j + 1;
  }
  if (c === '`') return skipTemplate(src, i);
  if (c === '/') {
    if (src[i + 1] === '/') {
      const nl = src.indexOf('\n', i);
      return nl < 0 ? src.length : nl;
    }
    if (src[i + 1] === '*') {
      const endAt = src.indexOf('*/', i + 2);
      return endAt < 0 ? src.length : endAt + 2;
    }
    if (regexAllowed(src, prev)) return skipRegex(src, i);
  }
  return i;
}

function isComment(src: string, i: number): boolean {
  return src[i] === '/' && (src[i + 1] === '/' || src[i + 1] === '*');
}

function skipTemplate(src: string, i: number): number {
  for (i++; i < src.length; ) {
    const c = src[i];
    if (c === '\\') i += 2;
    else if (c === '`') return i + 1;
    else if (c === '$' && src[i + 1] === '{') i = scanCode(src, i + 2, '}') + 1;
    else i++;
  }
  return i;
}

function skipRegex(src: string, i: number): number {
  let inClass = false; // `/[/]/` : a slash inside a class does not end the regex
  for (i++; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) break;
  }
  for (i++; i < src.length && /[a-z]/i.test(src[i]!); i++);
  return i;
}

const REGEX_AFTER_WORD = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

/** A `/` after an operator or keyword starts a regex; after a value it divides. */
function regexAllowed(src: string, prev: number): boolean {
  if (prev < 0) return true;
  const c = src[prev]!;
  if (/[\p{ID_Continue}$]/u.test(c)) {
    const word = /[\p{ID_Continue}$]+$/u.exec(src.slice(0, prev + 1))![0];
    return REGEX_AFTER_WORD.has(word);
  }
  return '(,=:[!&|?{};+-*%<>~^'.includes(c);
}

function stripLeadingTrivia(s: string): string {
  for (;;) {
    s = s.replace(/^\s+/, '');
    if (!isComment(s, 0)) return s;
    s = s.slice(skipLiteral(s, 0, -1));
  }
}

function stripComments(s: string): string {
  return s.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, ' ');
}

// --- Binding a request -------------------------------------------------------------------

/**
 * The positional argument list to apply for a nameko `args`/`kwargs` pair, or
 * IncorrectSignature with the message nameko would send. Checks run in getcallargs'
 * order: keywords first, then too many positionals, then missing ones.
 */
export function bindArguments(sig: Signature, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): unknown[] {
  const { method, params, required, hasRest } = sig;
  const slots = hasRest ? params.length - 1 : params.length;
  const values: unknown[] = args.slice(0, slots);
  const byKeyword = new Set<number>();

  // Object.keys gives own keys only, and names are compared with ===, so `__proto__`,
  // `constructor` and friends can neither match nor be assigned through a prototype.
  for (const key of Object.keys(kwargs)) {
    const at = params.findIndex((p, i) => i < slots && p.name === key);
    if (at < 0) {
      // nameko passes `self` positionally (as None), so a `self` keyword collides with it.
      if (key === 'self') throw new IncorrectSignature(`${method}() got multiple values for argument 'self'`);
      throw new IncorrectSignature(`${method}() got an unexpected keyword argument ${pyRepr(key)}`);
    }
    if (at < args.length) throw new IncorrectSignature(`${method}() got multiple values for argument ${pyRepr(key)}`);
    while (values.length < at) values.push(undefined); // a skipped optional: let its JS default apply
    values[at] = kwargs[key];
    byKeyword.add(at);
  }

  if (args.length > slots && !hasRest) {
    // +1 everywhere: Python counts `self`, so `given` is never 1 and the verb is always "were".
    const takes = slots > required ? `from ${required + 1} to ${slots + 1}` : `${slots + 1}`;
    const plural = slots > 0 ? 's' : ''; // only `f(self)` takes a lone "1 positional argument"
    throw new IncorrectSignature(`${method}() takes ${takes} positional argument${plural} but ${args.length + 1} were given`);
  }

  const missing: string[] = [];
  for (let i = args.length; i < required; i++) {
    if (!byKeyword.has(i)) missing.push(pyRepr(params[i]!.name ?? `<argument ${i + 1}>`));
  }
  if (missing.length > 0) {
    const s = missing.length === 1 ? '' : 's';
    throw new IncorrectSignature(`${method}() missing ${missing.length} required positional argument${s}: ${joinNames(missing)}`);
  }

  // `values` already ends at the last given argument, so `arguments.length` is what the
  // caller sent; extra positionals land in the rest parameter.
  return args.length > slots ? [...args] : values;
}

function joinNames(names: string[]): string {
  if (names.length <= 2) return names.join(' and ');
  return `${names.slice(0, -2).join(', ')}, ${names.at(-2)} and ${names.at(-1)}`;
}

// Python's repr() of a str, as in `%r`: kwarg keys come from the caller and can hold
// anything, and the message must read the same as nameko's.
const NON_PRINTABLE = /^[\p{C}\p{Z}]$/u;

function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      const cp = ch.codePointAt(0)!;
      const [prefix, width] = cp < 0x100 ? ['x', 2] : cp < 0x10000 ? ['u', 4] : ['U', 8];
      out += `\\${prefix}${cp.toString(16).padStart(width, '0')}`;
    } else out += ch;
  }
  return out + quote;
}
