// One client is cut off the network for a few seconds while its calls are in flight,
// through a TCP proxy in front of it: first with its connections reset and refused, then
// silently (every byte dropped, noticed by its 1 s heartbeat). The service never notices;
// its replies wait in the client's durable reply queue, which the client consumes again
// when it is back. Requests whose confirm was lost are sent again.
import { afterAll, expect, it } from 'vitest';
import { expectEveryCallAnswered } from './expect-clean.js';
import { ensureBrokerRunning } from './harness.js';
import { clientPartition } from './scenarios.js';

afterAll(ensureBrokerRunning);

it('delivers the replies sent while a client was cut off', async () => {
  const result = await clientPartition();
  expectEveryCallAnswered(result);
  expect(result.facts.clientDisconnects).toBe(1);
  expect(result.facts.serviceDisconnects).toBe(0);
  expect(result.facts.sentDuringCut as number).toBeGreaterThan(0);
});

it('recovers from a silent partition, noticed by the heartbeat', async () => {
  const result = await clientPartition({ silent: true });
  expectEveryCallAnswered(result);
  expect(result.facts.clientDisconnects).toBe(1);
  expect(result.facts.serviceDisconnects).toBe(0);
  // Two missed 1 s heartbeats, give or take a timer tick.
  expect(result.facts.clientNoticedAfterMs as number).toBeLessThan(4000);
  // Requests written into the silent socket were never confirmed: sent again.
  expect(result.facts.resent as number).toBeGreaterThan(0);
  // A reconnect attempt into the silent network gives up (connect timeout) and retries.
  expect(result.recoveryMs!).toBeLessThan(10_000);
});
