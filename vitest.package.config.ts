import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The packed-package test (npm pack, fresh projects, tsc, npm installs, Node 22 and 24) is
// CPU-heavy for minutes; run beside the parallel suite it would starve that suite's
// timing-sensitive tests on a 2-core machine. So it has its own step: `npm run test:package`.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/package.test.ts'],
    exclude: ['node_modules/**'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
  },
});
