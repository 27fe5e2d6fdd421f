// Two `enoki run` instances of one service; one is SIGKILLed with calls running on it.
// Its unacknowledged requests go back to the queue and the other instance answers them.
import { afterAll, expect, it } from 'vitest';
import { expectEveryCallAnswered } from './expect-clean.js';
import { ensureBrokerRunning } from './harness.js';
import { killInstance } from './scenarios.js';

afterAll(ensureBrokerRunning);

it('answers the calls of a SIGKILLed instance from the other one', async () => {
  const result = await killInstance();
  expectEveryCallAnswered(result);
  expect(result.facts.inFlightAtKill as number).toBeGreaterThan(0);
  // Both served before the kill; only the survivor after it.
  expect(result.facts.answeredByKilled as number).toBeGreaterThan(0);
  expect(result.facts.answeredByKilledAfterKill).toBe(0);
  expect(result.facts.answeredBySurvivor as number).toBeGreaterThan(result.sent / 2);
});
