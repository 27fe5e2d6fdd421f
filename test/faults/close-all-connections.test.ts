// The broker drops every connection (server-side, a connection.close frame) twice while
// 500 calls are made: services and client reconnect through amqplib's recovery, and every
// call is answered once. nameko's own version of this test: 3,040 calls, none lost.
import { afterAll, expect, it } from 'vitest';
import { expectEveryCallAnswered } from './expect-clean.js';
import { ensureBrokerRunning } from './harness.js';
import { closeAllConnections } from './scenarios.js';

afterAll(ensureBrokerRunning);

it('answers every call through two server-side connection drops', async () => {
  const result = await closeAllConnections();
  expectEveryCallAnswered(result);
  expect(result.facts.clientDisconnects).toBe(2);
  expect(result.facts.serviceDisconnects).toBe(2);
  expect(result.recoveryMs!).toBeLessThan(10_000);
});
