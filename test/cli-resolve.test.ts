// `enoki run module:Class`: which file a module names (every extension Node and tsx load,
// written or not, a folder's index), classes found in ESM and CommonJS exports, and a class
// without entrypoints refused by name. Plain JavaScript files, so no TypeScript loader is
// involved; test/package.test.ts runs .ts services the same way from an installed package.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decorate, rpc } from 'enoki';
import { resolveServices } from '../src/cli.js';

const ENOKI = new URL('../src/index.ts', import.meta.url).href;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'enoki-resolve-'));
  // The modules reach enoki through globalThis: they live outside the repository.
  (globalThis as Record<string, unknown>).__enokiResolveTest = ENOKI;
  const esm = (name: string, service: string) =>
    `const { decorate, rpc } = await import(globalThis.__enokiResolveTest);\nexport class ${name} { static name = '${service}'; hello() { return 1; } }\ndecorate(${name}, { hello: rpc });\n`;
  writeFileSync(join(dir, 'alpha.mjs'), esm('Alpha', 'alpha'));
  mkdirSync(join(dir, 'pkg'));
  writeFileSync(join(dir, 'pkg', 'index.mjs'), esm('Beta', 'beta'));
  writeFileSync(join(dir, 'idle.mjs'), "export class Idle { static name = 'idle'; hello() { return 1; } }\n");
  writeFileSync(join(dir, 'helpers.mjs'), 'export const x = 1;\n');
  // CommonJS modules cannot await an import: they take enoki's decorate() from globalThis.
  (globalThis as Record<string, unknown>).__enokiResolveApi = { decorate, rpc };
  const cjs = (name: string, service: string) =>
    `const { decorate, rpc } = globalThis.__enokiResolveApi;\nclass ${name} { static name = '${service}'; hello() { return 1; } }\ndecorate(${name}, { hello: rpc });\nmodule.exports = { ${name} };\n`;
  writeFileSync(join(dir, 'gamma.cjs'), cjs('Gamma', 'gamma'));
  // `.js` is what the nearest package.json says: ESM under "type": "module", CommonJS otherwise.
  mkdirSync(join(dir, 'esm'));
  writeFileSync(join(dir, 'esm', 'package.json'), '{"type":"module"}\n');
  writeFileSync(join(dir, 'esm', 'delta.js'), esm('Delta', 'delta'));
  mkdirSync(join(dir, 'cjs'));
  writeFileSync(join(dir, 'cjs', 'package.json'), '{"type":"commonjs"}\n');
  writeFileSync(join(dir, 'cjs', 'echo.js'), cjs('Echo', 'echo'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('enoki run module:Class', () => {
  it('finds a module with or without its extension, and a folder by its index', async () => {
    for (const spec of ['alpha:Alpha', 'alpha.mjs:Alpha', './alpha:Alpha', 'alpha']) {
      const [found] = await resolveServices(spec, dir);
      expect(found?.exportName, spec).toBe('Alpha');
    }
    const [beta] = await resolveServices('pkg', dir);
    expect(beta?.exportName).toBe('Beta');
  });

  it('loads .cjs, and .js as ESM or CommonJS by its package.json, each with or without the extension', async () => {
    const cases: Array<[string[], string, string]> = [
      [['gamma:Gamma', 'gamma.cjs:Gamma'], 'Gamma', 'gamma.cjs'],
      [['esm/delta:Delta', 'esm/delta.js:Delta'], 'Delta', 'delta.js'],
      [['cjs/echo:Echo', 'cjs/echo.js:Echo'], 'Echo', 'echo.js'],
    ];
    for (const [specs, exportName, file] of cases) {
      for (const spec of specs) {
        const [found] = await resolveServices(spec, dir);
        expect(found?.exportName, spec).toBe(exportName);
        expect(found?.module, spec).toMatch(new RegExp(`/${file.replace('.', '\\.')}$`));
        expect(typeof (found?.cls as unknown as { prototype: { hello: unknown } }).prototype.hello).toBe('function');
      }
    }
  });

  it('names every extension it tried when nothing matches', async () => {
    await expect(resolveServices('missing:X', dir)).rejects.toThrow(/\.ts, \.mts, \.cts, \.js, \.mjs, \.cjs/);
  });

  it('refuses a class without entrypoints with ENOKI_ERR_NO_ENTRYPOINTS, by its export name', async () => {
    await expect(resolveServices('idle:Idle', dir)).rejects.toThrow(expect.objectContaining({ code: 'ENOKI_ERR_NO_ENTRYPOINTS' }));
    await expect(resolveServices('idle', dir)).rejects.toThrow(/service class Idle \(service 'idle' in .*idle\.mjs\) has no entrypoints/);
  });

  it('a module with no service class at all is a load error', async () => {
    await expect(resolveServices('helpers', dir)).rejects.toThrow(expect.objectContaining({ code: 'ENOKI_ERR_SERVICE_LOAD' }));
  });
});
