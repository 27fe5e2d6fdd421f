import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// Fault tests disturb the whole broker (close every connection, stop_app/start_app), so
// they run alone, one file at a time, after the parallel suite: `npm run test:faults`.
// Each one leaves RabbitMQ running.
export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['test/faults/**/*.test.ts'],
      exclude: ['node_modules/**'],
      fileParallelism: false,
      testTimeout: 120_000,
      hookTimeout: 120_000,
      passWithNoTests: true,
    },
  }),
);
