// A call still running when the broker takes its request back (here: every connection of
// the vhost closed server-side; in production also RabbitMQ's consumer_timeout closing the
// channel under a long call) is redelivered to the same service. It must not start again:
// the redelivery joins the running call, one execution, one reply, and the request is
// acknowledged once the call ends. Before this, it ran twice (and a long @cpuBound task
// past consumer_timeout, once per redelivery, for ever).
//
// Closing connections disturbs the broker, so this runs in the sequential fault step.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, rpc, ServiceRunner, type ClusterClient } from '../../src/index.js';
import { captureLogs } from '../helpers/log-capture.js';
import { createVhost, type TestVhost } from '../support/vhost.js';
import { ensureBrokerRunning, queueCounts, rabbitmqctl, sleep, waitUntil } from './harness.js';

let executions = 0;

class LongCall {
  static name = 'long_call';

  @rpc
  async work(ms: number): Promise<string> {
    executions++;
    await sleep(ms);
    return `done after ${ms} ms`;
  }
}

let vhost: TestVhost;
let runner: ServiceRunner;
let client: ClusterClient;
const logs = captureLogs('info');

beforeAll(async () => {
  vhost = createVhost('redelivery-join');
  const config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'info' } });
  runner = new ServiceRunner(config, { logger: logs.logger });
  runner.add(LongCall);
  await runner.start();
  client = await ClusterRpcProxy.connect(config, { timeoutMs: 60_000, logger: logs.logger });
});

afterAll(async () => {
  await client?.close();
  await runner?.stop();
  vhost?.remove();
  await ensureBrokerRunning();
});

it('a redelivered request that is still running joins the running call: one execution, one reply', async () => {
  const call = client.long_call!.work(6_000) as Promise<string>;
  await waitUntil('the call to start', () => executions === 1, 10_000);
  await rabbitmqctl('close_all_connections', '-p', vhost.name, 'enoki fault test: take the request back while it runs');
  // The service reconnects and the broker redelivers the unacknowledged request to it.
  await waitUntil('the redelivery to join the running call', () => logs.has('joins it instead of starting it again'), 20_000);
  expect(await call).toBe('done after 6000 ms');
  expect(executions).toBe(1);
  // Acknowledged: nothing left on the queue, nothing unacknowledged.
  await waitUntil('the request to be acknowledged', async () => {
    const counts = await queueCounts(vhost.name, 'rpc-long_call');
    return counts !== undefined && counts.ready === 0 && counts.unacked === 0;
  }, 10_000);
  await sleep(500);
  expect(executions).toBe(1);
}, 60_000);
