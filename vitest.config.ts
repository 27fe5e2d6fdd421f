import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { defineConfig, type Plugin } from 'vitest/config';

// In this repository `enoki` and its subpaths are the source in src/, never the compiled
// dist/ that package.json `exports` names for users: a test that imports both 'enoki' and
// '../src/...' must get one copy of the runtime. tsconfig.json `paths` is the one list
// (tsc and tsx read it too); the aliases here are made from it.
const tsconfig = JSON.parse(readFileSync(new URL('./tsconfig.json', import.meta.url), 'utf8')) as {
  compilerOptions: { paths: Record<string, [string]> };
};
const sourceAliases = Object.entries(tsconfig.compilerOptions.paths).map(([name, [target]]) => ({
  find: new RegExp(`^${name.replace('/', '\\/')}$`),
  replacement: fileURLToPath(new URL(target, import.meta.url)),
}));

// Vite 8 transpiles TypeScript with Oxc, which leaves TC39 standard decorators
// (`@rpc`, `@cpuBound`) untransformed, and Node 20 cannot parse them. Tests must see the
// code exactly as `enoki run` does, and that is tsx, i.e. esbuild: so TypeScript goes
// through esbuild here too, with the same target.
function esbuildTypeScript(): Plugin {
  return {
    name: 'enoki:esbuild-typescript',
    enforce: 'pre',
    async transform(code, id) {
      if (!/\.[cm]?ts$/.test(id) || id.includes('/node_modules/')) return null;
      const out = await transform(code, { loader: 'ts', format: 'esm', target: 'es2022', sourcemap: true, sourcefile: id });
      return { code: out.code, map: out.map };
    },
  };
}

// Broker tests share one RabbitMQ; each file uses its own vhost or exchange and queue
// names, so files run in parallel. Tests that disturb the whole broker live in
// test/faults/ and run in their own sequential step (npm run test:faults).
export default defineConfig({
  plugins: [esbuildTypeScript()],
  oxc: false,
  resolve: { alias: sourceAliases },
  test: {
    include: ['test/**/*.test.ts'],
    // Own steps: test/faults/ disturbs the broker, test/package.test.ts is CPU-heavy.
    exclude: ['test/faults/**', 'test/package.test.ts', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
