// SIGTERM to `enoki run` while the broker is down: it exits within its shutdown grace
// instead of waiting for the broker for ever, and no call is lost: the broker requeued
// the requests, and a second instance answers them once the broker is back.
import { afterAll, expect, it } from 'vitest';
import { ensureBrokerRunning } from './harness.js';
import { sigtermBrokerDown } from './scenarios.js';

afterAll(ensureBrokerRunning);

it('exits within the grace period, and a second instance answers every call', async () => {
  const result = await sigtermBrokerDown();
  const summary = JSON.stringify(result);
  expect(result.facts.exitCode, summary).toBe(0);
  // 3 s calls + 3 s grace + start-up of the stop; generous for a busy machine.
  expect(result.facts.exitAfterTermMs as number, summary).toBeLessThan(20_000);
  expect(result.answered, summary).toBe(6);
  expect(result.lost, summary).toBe(0);
}, 120_000);
