// stop_app / start_app while 500 calls are made: calls made while the broker is down wait
// for the connection; durable queues and persistent messages carry requests and replies
// across the restart.
import { afterAll, expect, it } from 'vitest';
import { expectEveryCallAnswered } from './expect-clean.js';
import { ensureBrokerRunning } from './harness.js';
import { brokerRestart } from './scenarios.js';

afterAll(ensureBrokerRunning);

it('answers every call across a broker restart', async () => {
  const result = await brokerRestart();
  expectEveryCallAnswered(result);
  expect(result.facts.downMs as number).toBeGreaterThan(500);
  // The reconnect back-off is capped at 5 s (plus jitter room and the backlog).
  expect(result.recoveryMs!).toBeLessThan(15_000);
});
