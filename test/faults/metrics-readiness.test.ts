// Readiness follows the broker connection: the broker closes every connection of the
// vhost (server-side), /health/ready answers 503 {"reason": "reconnecting"} while the
// service is without its connection, and 200 again once it is back; the reconnect is
// counted. Closing connections disturbs the broker, so this runs in the sequential fault step.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, rpc, ServiceRunner } from '../../src/index.js';
import { scrape, total } from '../support/prom-scrape.js';
import { createVhost, type TestVhost } from '../support/vhost.js';
import { ensureBrokerRunning, rabbitmqctl, sleep } from './harness.js';

class ReadyService {
  static name = 'ready_service';

  @rpc
  ping(): string {
    return 'pong';
  }
}

let vhost: TestVhost;
let runner: ServiceRunner;

beforeAll(async () => {
  vhost = createVhost('metrics-ready');
  runner = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, METRICS_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'silent' } }));
  runner.add(ReadyService);
  await runner.start();
});

afterAll(async () => {
  await runner?.stop();
  vhost?.remove();
  await ensureBrokerRunning();
});

it('readiness turns 503 while the broker connection is down and 200 once it is back', async () => {
  const url = runner.metricsAddress!.url;
  await expect.poll(async () => (await fetch(`${url}/health/ready`)).status, { timeout: 5000 }).toBe(200);

  // Poll readiness fast while the broker drops the connections: the 503 lasts as long
  // as amqplib's reconnect takes (short), so the poller must already be running.
  const seen: Array<{ status: number; body: unknown }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const res = await fetch(`${url}/health/ready`);
      seen.push({ status: res.status, body: await res.json() });
      await sleep(5);
    }
  })();
  await rabbitmqctl('close_all_connections', '-p', vhost.name, 'enoki fault test: readiness while reconnecting');
  await expect.poll(() => seen.some((s) => s.status === 503), { timeout: 20_000 }).toBe(true);
  await expect.poll(() => seen.at(-1)?.status, { timeout: 30_000 }).toBe(200);
  polling = false;
  await poller;

  const down = seen.find((s) => s.status === 503)!;
  expect(down.body).toEqual({ status: 'not ready', reason: 'reconnecting', service: 'ready_service' });
  const metrics = await scrape(url);
  expect(total(metrics, 'enoki_amqp_reconnects_total', { service: 'ready_service' })).toBeGreaterThanOrEqual(1);
  expect(total(metrics, 'enoki_amqp_connected', { service: 'ready_service' })).toBe(1);
  expect(total(metrics, 'enoki_ready')).toBe(1);

  // And the service answers again.
  const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }), { timeoutMs: 30_000 });
  try {
    expect(await client.ready_service!.ping!()).toBe('pong');
  } finally {
    await client.close();
  }
});
