// One service, three ways of marking it: TC39 standard decorators, TypeScript's
// `experimentalDecorators`, and decorate() from plain JavaScript. Each is compiled here by
// esbuild (what tsx runs for `enoki run`) from the same source, so the call shapes the
// decorators receive are the real ones, and all three must define the same service. Also:
// the process-wide registry, and the refusal of a second installed copy.

import { transform } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cpuBound, decorate, http, isEnokiError, rpc } from 'enoki';
import { getMethodMarks } from '../src/decorators.js';
import { processRegistry } from '../src/process-registry.js';
import { defineService, hasEntrypoints, type MethodDefinition } from '../src/service-definition.js';

const SOURCE = `
import { rpc, cpuBound, http } from 'enoki';
export class Shop {
  static name = 'shop';
  @rpc hello(name: string) { return 'Hello, ' + name; }
  @rpc({ name: 'total_price' }) @cpuBound({ timeout: 5000 }) total(items: number[]) { return items.reduce((a, b) => a + b, 0); }
  @http('GET,POST', '/shop/:id') page(id: string) { return id; }
  helper() { return 'not an entrypoint'; }
}
`;

const dir = mkdtempSync(join(tmpdir(), 'enoki-dialects-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Compiles SOURCE with the given decorator dialect and imports it. enoki is handed in, not resolved. */
async function compiled(experimentalDecorators: boolean): Promise<Function> {
  const { code } = await transform(SOURCE, {
    loader: 'ts',
    format: 'esm',
    target: 'es2022',
    tsconfigRaw: { compilerOptions: { experimentalDecorators } },
  });
  const file = join(dir, `shop-${experimentalDecorators ? 'legacy' : 'standard'}.mjs`);
  // The compiled module imports 'enoki'; point it at this process's copy through globalThis.
  writeFileSync(file, code.replace(/import \{([^}]*)\} from "enoki";/, 'const {$1} = globalThis.__enokiForDialectTest;'));
  (globalThis as Record<string, unknown>).__enokiForDialectTest = { rpc, cpuBound, http };
  return ((await import(pathToFileURL(file).href)) as { Shop: Function }).Shop;
}

function plainJavaScript(): Function {
  class Shop {
    static name = 'shop';
    hello(name: string) {
      return `Hello, ${name}`;
    }
    total(items: number[]) {
      return items.reduce((a, b) => a + b, 0);
    }
    page(id: string) {
      return id;
    }
    helper() {
      return 'not an entrypoint';
    }
  }
  return decorate(Shop, { hello: rpc, total: [rpc({ name: 'total_price' }), cpuBound({ timeout: 5000 })], page: http('GET,POST', '/shop/:id') });
}

/** What the container reads off a class, in comparable form: entrypoint marks by kind. */
function shape(cls: Function) {
  const def = defineService(cls as never);
  const marksOf = (m: MethodDefinition, kind: string) => m.entrypoints.filter((e) => e.kind.name === kind).map((e) => e.options);
  const rpcName = (m: MethodDefinition) => (marksOf(m, 'rpc') as Array<{ name?: string }>).map((o) => o.name ?? m.methodName)[0];
  return {
    name: def.name,
    rpc: [...def.methods.values()].map(rpcName).filter((n) => n !== undefined).sort(),
    methods: [...def.methods.values()]
      .map((m) => ({ method: m.methodName, rpc: rpcName(m), http: marksOf(m, 'http'), cpuBound: m.cpuBound, params: m.signature.params.map((p) => p.name) }))
      .sort((a, b) => a.method.localeCompare(b.method)),
  };
}

describe('decorator dialects', () => {
  it('TC39 standard decorators, experimentalDecorators and decorate() define the same service', async () => {
    const standard = shape(await compiled(false));
    const legacy = shape(await compiled(true));
    const plain = shape(plainJavaScript());
    expect(standard).toEqual({
      name: 'shop',
      rpc: ['hello', 'total_price'],
      methods: [
        { method: 'hello', rpc: 'hello', http: [], cpuBound: undefined, params: ['name'] },
        { method: 'page', rpc: undefined, http: [{ method: 'GET', path: '/shop/:id' }, { method: 'POST', path: '/shop/:id' }], cpuBound: undefined, params: ['id'] },
        { method: 'total', rpc: 'total_price', http: [], cpuBound: { timeout: 5000 }, params: ['items'] },
      ],
    });
    expect(legacy).toEqual(standard);
    expect(plain).toEqual(standard);
  });

  it('marks live in the process registry, where any copy or load of enoki finds them', () => {
    const Shop = plainJavaScript() as { prototype: Record<string, Function> };
    const registry = (globalThis as Record<symbol, { marks: WeakMap<Function, unknown> }>)[Symbol.for('enoki.process-registry')];
    expect(registry?.marks.get(Shop.prototype.hello!)).toBe(getMethodMarks(Shop.prototype.hello));
    expect(registry).toBe(processRegistry());
  });

  it('hasEntrypoints: true for a marked class, false for a plain one', () => {
    expect(hasEntrypoints(plainJavaScript())).toBe(true);
    expect(hasEntrypoints(class Idle {})).toBe(false);
    expect(hasEntrypoints({})).toBe(false);
  });

  it('decorate() refuses what it cannot apply, with ENOKI_ERR_DECORATOR_USAGE', () => {
    class Shop {
      static name = 'shop';
      hello() {
        return 1;
      }
    }
    const refused = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        expect(isEnokiError(err, 'ENOKI_ERR_DECORATOR_USAGE')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refused(() => decorate(Shop, { nope: rpc } as never))).toMatch(/class shop .*has no method nope/);
    expect(refused(() => decorate(Shop, { hello: 'rpc' } as never))).toMatch(/is not a decorator/);
    expect(refused(() => decorate(Shop, { hello: http } as never))).toMatch(/http takes a verb and a path/);
    expect(refused(() => decorate('Shop' as never, {}))).toMatch(/the first argument is the service class/);
  });
});

describe('a second copy of enoki', () => {
  it('is refused with ENOKI_ERR_DUPLICATE_COPY naming both paths', () => {
    const key = Symbol.for('enoki.process-registry');
    const global = globalThis as Record<symbol, unknown>;
    const ours = global[key];
    const elsewhere = 'file:///srv/other-app/node_modules/enoki/dist/src/process-registry.js';
    Object.defineProperty(global, key, { value: { version: 1, owner: elsewhere, marks: new WeakMap() }, configurable: true });
    try {
      expect(() => processRegistry()).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_DUPLICATE_COPY' }));
      try {
        processRegistry();
      } catch (err) {
        expect((err as Error).message).toContain(elsewhere);
        expect((err as Error).message).toContain(new URL('../src/process-registry.ts', import.meta.url).href);
      }
    } finally {
      Object.defineProperty(global, key, { value: ours, configurable: true });
    }
  });
});
