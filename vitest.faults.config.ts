import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// Fault tests disturb the whole broker (close every connection of a vhost, stop_app and
// start_app), so they run alone, one file at a time, after the parallel suite:
// `npm run test:faults`. Each one leaves RabbitMQ running.
// Not mergeConfig: it concatenates arrays, so the base include/exclude would win.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/faults/**/*.test.ts'],
    exclude: ['node_modules/**'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    passWithNoTests: true,
  },
});
