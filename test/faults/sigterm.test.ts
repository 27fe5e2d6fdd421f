// SIGTERM to `enoki run` with 20 calls running (inline, yieldEvery and @cpuBound): it
// stops consuming, answers all 20, exits 0, and leaves nothing in its queue.
import { afterAll, expect, it } from 'vitest';
import { ensureBrokerRunning } from './harness.js';
import { sigtermDrain } from './scenarios.js';

afterAll(ensureBrokerRunning);

it('answers every call in flight, then exits 0 with its queue empty', async () => {
  const result = await sigtermDrain();
  const summary = JSON.stringify(result);
  expect(result.answered, summary).toBe(20);
  expect(result.errored, summary).toBe(0);
  expect(result.duplicates, summary).toBe(0);
  expect(result.facts.exitCode, summary).toBe(0);
  expect(result.facts.queueReady, summary).toBe(0);
  expect(result.facts.queueUnacked, summary).toBe(0);
});
