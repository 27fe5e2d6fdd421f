// A @cpuBound call whose pool thread exits (process.exit) or runs out of heap: that call
// fails with a clear error, and the calls around it and after it succeed.
import { afterAll, expect, it } from 'vitest';
import { expectEveryCallAnswered } from './expect-clean.js';
import { ensureBrokerRunning } from './harness.js';
import { cpuBoundCrash } from './scenarios.js';

afterAll(ensureBrokerRunning);

it('a dying pool thread fails only its own call', async () => {
  const result = await cpuBoundCrash();
  expectEveryCallAnswered(result);
  expect(result.facts.crashCalls).toBe(3);
  expect(result.facts.crashCallsErroredClearly, String(result.facts.crashErrors)).toBe(true);
  expect(String(result.facts.crashErrors)).toMatch(/memory/);
});
