// What isolates two deployments on one broker: a vhost each, not an rpc_exchange each. The
// service queue is `rpc-<service>` whatever the exchange, so two instances of one service
// on two exchanges consume one queue and take each other's requests; their replies go out
// on the other exchange, where the caller's reply queue is not bound, and the call times out.

import { loadConfig, RpcTimeout, ServiceRunner, ClusterRpcProxy } from 'enoki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultService } from './faults/fixtures/fault-service.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const CALLS = 10;
let shared: TestVhost;
let staging: TestVhost;
let production: TestVhost;

// Six rabbitmqctl runs: each takes seconds on a loaded machine, past the 30 s hook default.
beforeAll(() => {
  shared = createVhost('isolation-shared');
  staging = createVhost('isolation-staging');
  production = createVhost('isolation-production');
}, 120_000);

afterAll(() => {
  for (const vhost of [shared, staging, production]) vhost?.remove();
}, 120_000);

/** Two instances of one service, one per config; CALLS calls by a client of the first. Resolves to how many were answered. */
async function answeredAcross(first: Record<string, unknown>, second: Record<string, unknown>): Promise<number> {
  const quiet = { LOGGING: { level: 'silent' }, max_workers: 1 };
  const runners = [first, second].map((config) => new ServiceRunner(loadConfig({ ...config, ...quiet })));
  for (const runner of runners) runner.add(FaultService);
  for (const runner of runners) await runner.start();
  const client = await ClusterRpcProxy.connect(loadConfig({ ...first, ...quiet }), { timeoutMs: 3_000 });
  try {
    const results = await Promise.allSettled(Array.from({ length: CALLS }, (_, i) => client.fault_service.echo(i)));
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RpcTimeout);
    return results.filter((r) => r.status === 'fulfilled').length;
  } finally {
    await client.close();
    for (const runner of runners) await runner.stop();
  }
}

describe('isolation', () => {
  it('two rpc_exchanges on one vhost do not isolate: the other instance takes some calls and the callers time out', async () => {
    const answered = await answeredAcross({ AMQP_URI: shared.uri, rpc_exchange: 'staging-rpc' }, { AMQP_URI: shared.uri, rpc_exchange: 'production-rpc' });
    expect(answered).toBeLessThan(CALLS);
    expect(answered).toBeGreaterThan(0);
  }, 60_000);

  it('two vhosts do: every call is answered by its own instance', async () => {
    expect(await answeredAcross({ AMQP_URI: staging.uri }, { AMQP_URI: production.uri })).toBe(CALLS);
  }, 60_000);
});
