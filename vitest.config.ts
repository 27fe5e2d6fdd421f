import { defineConfig } from 'vitest/config';

// Broker tests share one RabbitMQ; each file uses its own exchange/queue names so files
// can run in parallel. Tests that disturb the whole broker live in test/faults/ and run
// in their own sequential step (npm run test:faults), never beside the others.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/faults/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
