import { transform } from 'esbuild';
import { defineConfig, type Plugin } from 'vitest/config';

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
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/faults/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
