// RabbitMQ's consumer_timeout under a long call: the broker closes the consumer channel
// (PRECONDITION_FAILED, "delivery acknowledgement on channel N timed out") and requeues the
// request. The service must say so once, as ENOKI_ERR_CONSUMER_TIMEOUT naming the method,
// how long it had run and the fix; and the redelivery must join the running call, so the
// method runs once and the caller gets one reply.
//
// The broker's consumer_timeout is shrunk to 10 s for this file (a broker-wide setting, so
// it runs in the sequential fault step) and restored after. RabbitMQ 3.10 checks it about
// once a minute, so the call lasts 10 s + a minute + a margin.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, rpc, ServiceRunner, type ClusterClient } from '../../src/index.js';
import { captureLogs } from '../helpers/log-capture.js';
import { createVhost, type TestVhost } from '../support/vhost.js';
import { ensureBrokerRunning, queueCounts, rabbitmqctl, sleep, waitUntil } from './harness.js';

const TIMEOUT_MS = 10_000;
const CALL_MS = 85_000;
let executions = 0;

class SlowReport {
  static name = 'slow_report';

  @rpc
  async build(ms: number): Promise<string> {
    executions++;
    await sleep(ms);
    return `built in ${ms} ms`;
  }
}

let vhost: TestVhost;
let runner: ServiceRunner;
let client: ClusterClient;
let previous = 'undefined';
const logs = captureLogs('info');

beforeAll(async () => {
  previous = (await rabbitmqctl('eval', 'application:get_env(rabbit, consumer_timeout).')).trim();
  // Read by each channel when it opens: set before the service connects.
  await rabbitmqctl('eval', `application:set_env(rabbit, consumer_timeout, ${TIMEOUT_MS}).`);
  vhost = createVhost('consumer-timeout');
  const config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'info' } });
  runner = new ServiceRunner(config, { logger: logs.logger });
  runner.add(SlowReport);
  await runner.start();
  client = await ClusterRpcProxy.connect(config, { timeoutMs: CALL_MS + 60_000, logger: logs.logger });
});

afterAll(async () => {
  // Restore the broker first, whatever happened.
  const match = /^\{ok,(\d+)\}$/.exec(previous);
  await rabbitmqctl('eval', match ? `application:set_env(rabbit, consumer_timeout, ${match[1]}).` : 'application:unset_env(rabbit, consumer_timeout).');
  await client?.close();
  await runner?.stop();
  vhost?.remove();
  await ensureBrokerRunning();
});

it('a call past consumer_timeout is logged once as ENOKI_ERR_CONSUMER_TIMEOUT, runs once and is answered once', async () => {
  const call = client.slow_report!.build(CALL_MS) as Promise<string>;
  expect(await call).toBe(`built in ${CALL_MS} ms`);
  expect(executions).toBe(1);

  const coded = logs.records.filter((r) => r.code === 'ENOKI_ERR_CONSUMER_TIMEOUT');
  expect(coded.length, JSON.stringify(logs.records.filter((r) => r.level >= 40))).toBeGreaterThanOrEqual(1);
  const first = coded[0]!;
  expect(first.level).toBe(50);
  expect(first.method).toBe('slow_report.build');
  expect(first.consumerTimeoutMs).toBe(TIMEOUT_MS);
  expect(first.runningSeconds as number).toBeGreaterThanOrEqual(TIMEOUT_MS / 1000);
  expect(first.msg).toMatch(/consumer_timeout/);
  expect(first.msg).toMatch(/slow_report\.build had been running for \d+ s/);
  // One coded line per channel close, not one per message or per retry.
  const closes = logs.records.filter((r) => r.msg === 'AMQP consumer channel error' && /timed out/.test(String(r.err))).length;
  expect(coded.length).toBe(closes);
  // The redelivery joined the running call.
  expect(logs.has('joins it instead of starting it again')).toBe(true);
  await waitUntil('the request to be acknowledged', async () => {
    const counts = await queueCounts(vhost.name, 'rpc-slow_report');
    return counts !== undefined && counts.ready === 0 && counts.unacked === 0;
  }, 10_000);
  expect(executions).toBe(1);
}, CALL_MS + 90_000);
