import { describe, expect, it } from 'vitest';
import { IncorrectSignature, isEnokiError } from '../src/errors.js';
import { bindArguments, readSignature, type Signature } from '../src/signature.js';

// Test functions are built from source strings so the scanner sees exactly this text;
// the vitest transform would otherwise reformat it before toString() ever runs.
function fromSource(src: string): Function {
  return new Function(`return (${src})`)() as Function;
}

/** A method from an object literal: `hello(a) {}`, `async *gen() {}`, `'odd(name'() {}`. */
function methodFromSource(src: string): Function {
  return Object.values(new Function(`return ({ ${src} })`)() as Record<string, Function>)[0]!;
}

/** Names as read ('{}' for destructured, '...' prefix for rest, '=' suffix for default). */
function shape(fn: Function): string[] {
  const sig = readSignature(fn);
  // The engine's own count is the ground truth for where the required params end.
  expect(sig.required).toBe(fn.length);
  return sig.params.map((p) => `${p.rest ? '...' : ''}${p.name ?? '{}'}${p.hasDefault ? '=' : ''}`);
}

describe('readSignature', () => {
  it.each([
    ['pretty method', 'hello(name) { return name }', ['name']],
    ['minified method', 'hello(name,punct="!",...rest){return name+punct}', ['name', 'punct=', '...rest']],
    ['async method', 'async hello(a, b) {}', ['a', 'b']],
    ['async generator', 'async *gen(a, b = 2) {}', ['a', 'b=']],
    ['generator', '*gen(x){}', ['x']],
    ['string name with a paren', "'odd(name'(a, b) {}", ['a', 'b']],
    ['computed name', "['x' + '('](a) {}", ['a']],
    ['trailing comma', 'f(a, b,) {}', ['a', 'b']],
    ['no params', 'f() {}', []],
  ])('%s', (_, src, expected) => {
    expect(shape(methodFromSource(src))).toEqual(expected);
  });

  it.each([
    ['anonymous function', 'function (a, b) {}', ['a', 'b']],
    ['named function', 'function named(a) {}', ['a']],
    ['async function', 'async function (a) {}', ['a']],
    ['single-param arrow', 'a => a', ['a']],
    ['async single-param arrow', 'async a => a', ['a']],
    ['arrow whose param is named async', 'async => 1', ['async']],
    ['arrow', '(a, b) => a', ['a', 'b']],
    ['async arrow with destructuring', 'async (a, {b}) => a', ['a', '{}']],
    ['empty arrow', '() => 1', []],
    ['defaults holding commas', 'function (a = [1, 2], b = {x: 1, y: 2}, c = Math.max(1, 2)) {}', ['a=', 'b=', 'c=']],
    ['strings holding parens', `function (a = "(,", b = ')', c = '\\'),', d) {}`, ['a=', 'b=', 'c=', 'd']],
    ['templates with nesting', 'function (a = `x${ {p: 1}.p },${`(${"}"})`}`, b) {}', ['a=', 'b']],
    ['arrows in defaults', 'function (cb = (x, y) => { return x + y }, n = 1) {}', ['cb=', 'n=']],
    ['regex and division', 'function (re = /[(,/]/g, n = 2 / 1, m) {}', ['re=', 'n=', 'm']],
    ['comments', 'function (/* (, */ a, // b,)\n b /* = */, c /* , */ = 1) {}', ['a', 'b', 'c=']],
    ['destructuring and rest', 'function ({a, b}, [c, d] = [], {e = 1} = {}, ...rest) {}', ['{}', '{}=', '{}=', '...rest']],
    ['default before a required param', 'function (a, b = 1, c) {}', ['a', 'b=', 'c']],
  ])('%s', (_, src, expected) => {
    expect(shape(fromSource(src))).toEqual(expected);
  });

  it('reads methods as compiled by the test transform', () => {
    class Service {
      hello(name: string, punct = '!', ...rest: string[]): string {
        return name + punct + rest.join('');
      }
      async greet({ a }: { a: number }, b = 1): Promise<number> {
        return a + b;
      }
    }
    expect(shape(Service.prototype.hello)).toEqual(['name', 'punct=', '...rest']);
    expect(shape(Service.prototype.greet)).toEqual(['{}', 'b=']);
  });

  it('falls back to fn.length for bound functions, whose source is hidden', () => {
    const bound = fromSource('function (a, b) {}').bind(null);
    expect(readSignature(bound).params).toEqual([
      { name: undefined, hasDefault: false, rest: false },
      { name: undefined, hasDefault: false, rest: false },
    ]);
  });

  it('refuses a wrapper whose length disagrees with its source', () => {
    const wrapper = fromSource('(...args) => args');
    Object.defineProperty(wrapper, 'length', { value: 2 });
    expect(() => readSignature(wrapper)).toThrow(TypeError);
  });

  it('caches per function and takes the method name it is given', () => {
    const fn = methodFromSource('hello(name) {}');
    expect(readSignature(fn)).toBe(readSignature(fn));
    expect(readSignature(fn).method).toBe('hello');
    expect(readSignature(fn, 'greet').method).toBe('greet');
    expect(readSignature(fn, 'greet').params).toBe(readSignature(fn).params);
  });
});

describe('bindArguments', () => {
  const sig = (src: string): Signature => readSignature(methodFromSource(src));
  const hello = sig('hello(name) {}');
  const opts = sig('f(a, b = 5, c = 6) {}');

  function message(s: Signature, args: unknown[], kwargs: Record<string, unknown> = {}): string {
    try {
      bindArguments(s, args, kwargs);
    } catch (err) {
      expect(err).toBeInstanceOf(IncorrectSignature);
      expect(isEnokiError(err, 'ENOKI_ERR_INCORRECT_SIGNATURE')).toBe(true);
      return (err as Error).message;
    }
    throw new Error('expected IncorrectSignature');
  }

  it('maps positional and keyword arguments onto parameter order', () => {
    expect(bindArguments(hello, ['ann'], {})).toEqual(['ann']);
    expect(bindArguments(hello, [], { name: 'ann' })).toEqual(['ann']);
    expect(bindArguments(sig('f(a, b, c) {}'), [1], { c: 3, b: 2 })).toEqual([1, 2, 3]);
  });

  it('leaves skipped optionals undefined so JS defaults apply, and passes no trailing ones', () => {
    const fn = methodFromSource('f(a, b = 5, c = 6) { return [arguments.length, a, b, c] }');
    expect(fn(...bindArguments(opts, [1], { c: 9 }))).toEqual([3, 1, 5, 9]);
    expect(fn(...bindArguments(opts, [1], {}))).toEqual([1, 1, 5, 6]);
    expect(bindArguments(opts, [1, undefined], {})).toEqual([1, undefined]); // given, so kept
  });

  it('sends extra positionals to a rest parameter, which no keyword can name', () => {
    const rest = sig('f(a, ...more) {}');
    expect(bindArguments(rest, [1, 2, 3], {})).toEqual([1, 2, 3]);
    expect(message(rest, [1], { more: [2] })).toBe("f() got an unexpected keyword argument 'more'");
  });

  // Expected strings are Python's `inspect.getcallargs`, which nameko uses (note: no
  // Oxford comma for three names, unlike CPython's own call check).
  it.each([
    [hello, [], {}, "hello() missing 1 required positional argument: 'name'"],
    [sig('f(a, b) {}'), [], {}, "f() missing 2 required positional arguments: 'a' and 'b'"],
    [sig('f(a, b, c, d) {}'), [], { b: 1 }, "f() missing 3 required positional arguments: 'a', 'c' and 'd'"],
    [hello, ['a', 'b'], {}, 'hello() takes 2 positional arguments but 3 were given'],
    [sig('f() {}'), [1], {}, 'f() takes 1 positional argument but 2 were given'],
    [opts, [1, 2, 3, 4], {}, 'f() takes from 2 to 4 positional arguments but 5 were given'],
    [hello, [], { nmae: 1 }, "hello() got an unexpected keyword argument 'nmae'"],
    [hello, ['ann'], { name: 'bob' }, "hello() got multiple values for argument 'name'"],
    [hello, [], { self: 1 }, "hello() got multiple values for argument 'self'"], // nameko passes self as None
    [hello, ['a', 'b'], { x: 1 }, "hello() got an unexpected keyword argument 'x'"], // keywords are checked first
    [hello, [], { "it's": 1 }, `hello() got an unexpected keyword argument "it's"`], // Python's repr
    [hello, [], { 'a\n\u00a0b': 1 }, "hello() got an unexpected keyword argument 'a\\n\\xa0b'"],
  ] as const)('%#: %s', (s, args, kwargs, expected) => {
    expect(message(s, [...args], kwargs)).toBe(expected);
  });

  it('cannot bind destructured params by keyword, and names them by position', () => {
    const destructured = sig('f({a}, b) {}');
    expect(message(destructured, [], { a: 1, b: 2 })).toBe("f() got an unexpected keyword argument 'a'");
    expect(message(destructured, [], { b: 2 })).toBe("f() missing 1 required positional argument: '<argument 1>'");
  });

  it('rejects keys from the prototype chain instead of matching or polluting', () => {
    // JSON.parse makes `__proto__` an own key, as a decoded request body would.
    const body = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(message(hello, ['ann'], body)).toBe("hello() got an unexpected keyword argument '__proto__'");
    for (const key of ['constructor', 'toString', 'hasOwnProperty']) {
      expect(message(hello, ['ann'], { [key]: 1 })).toBe(`hello() got an unexpected keyword argument '${key}'`);
    }
    // A method whose param really is called `constructor` still binds by that name.
    expect(bindArguments(sig('f(constructor) {}'), [], { constructor: 1 })).toEqual([1]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
