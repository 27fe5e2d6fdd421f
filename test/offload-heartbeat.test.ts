// enoki's defining promise, against the real broker: a CPU-heavy method must not cost the
// AMQP heartbeat. HEARTBEAT: 2 and a 10-second busy method, three ways:
//   inline      the main thread computes; the broker hears no heartbeat, drops the
//               connection, and the unacknowledged request is delivered again: the
//               pitfall, shown, so we know this test can fail;
//   @cpuBound   computed in a pool thread: one delivery, one reply, no drop;
//   yieldEvery  computed inline in slices: the same.
// Each variant runs in its own child process (heartbeat-child.ts): the inline loop would
// otherwise stall vitest, and only the service process can count deliveries. The three
// run concurrently.

import { afterAll, beforeAll, describe, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, type ClusterClient } from '../src/index.js';
import { deleteQueues, HeartbeatChild } from './fixtures/offload/heartbeat-harness.js';
import { serviceNameFor, VARIANTS, type Variant } from './fixtures/offload/heartbeat-service.js';

const URI = 'amqp://guest:guest@127.0.0.1:5672/';
const EXCHANGE = 'offload-heartbeat-test';
const PREFIX = 'offload_hb_test';
const HEARTBEAT = 2;
const BUSY_SECONDS = 10;
const QUEUES = VARIANTS.map((v) => serviceNameFor(v, PREFIX));

const children = new Map<Variant, HeartbeatChild>();
const busyCalls = new Map<Variant, Promise<unknown>>();
let client: ClusterClient;
let busyStartedAt = 0;

beforeAll(async () => {
  // An earlier run killed mid-way may have left a busy request in a queue.
  await deleteQueues(URI, QUEUES);
  for (const variant of VARIANTS) children.set(variant, new HeartbeatChild({ variant, heartbeat: HEARTBEAT, exchange: EXCHANGE, uri: URI, prefix: PREFIX }));
  await Promise.all([...children.values()].map((c) => c.waitFor(() => c.count('ready') > 0, 20_000, 'ready')));
  client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: URI, rpc_exchange: EXCHANGE, HEARTBEAT, LOGGING: { level: 'silent' } }));
  busyStartedAt = Date.now();
  for (const variant of VARIANTS) {
    const call = client.service(serviceNameFor(variant, PREFIX)).busy(BUSY_SECONDS);
    call.catch(() => undefined); // the inline call is abandoned when its child is killed
    busyCalls.set(variant, call);
  }
}, 40_000);

afterAll(async () => {
  await client?.close();
  await Promise.all([...children.values()].map((c) => c.stop('SIGKILL')));
  await deleteQueues(URI, QUEUES);
});

// Concurrent: all three busy calls run at once, and each test watches its own.
describe.concurrent('a 10-second CPU-bound call with HEARTBEAT: 2', () => {
  it('inline: the broker drops the connection and delivers the request again (the pitfall)', async ({ expect }) => {
    const child = children.get('inline')!;
    await child.waitFor(() => child.count('delivery', 'busy') >= 2, 35_000, 'second delivery of busy');
    expect(child.count('delivery', 'busy', (e) => e.redelivered === true)).toBeGreaterThanOrEqual(1);
    expect(child.count('disconnected')).toBeGreaterThanOrEqual(1);
    // Killing it now leaves the request unacknowledged: it would loop forever.
    await child.stop('SIGKILL');
  }, 40_000);

  for (const variant of ['cpuBound', 'yieldEvery'] as const) {
    it(`${variant}: delivered once, answered once, the connection never drops`, async ({ expect }) => {
      const child = children.get(variant)!;
      const service = client.service(serviceNameFor(variant, PREFIX));
      // Halfway through the busy call, the service still answers another call promptly.
      const untilHalfway = busyStartedAt + (BUSY_SECONDS * 1000) / 2 - Date.now();
      if (untilHalfway > 0) await new Promise((resolve) => setTimeout(resolve, untilHalfway));
      const pingStart = performance.now();
      await expect(service.hello()).resolves.toBe('hello');
      // Generous: the point is "not blocked for seconds", on a shared 2-core CI machine.
      expect(performance.now() - pingStart).toBeLessThan(1_500);

      await expect(busyCalls.get(variant)).resolves.toMatch(/^done/);
      // Well past two heartbeat timeouts after the reply: any drop or redelivery would show.
      await new Promise((resolve) => setTimeout(resolve, HEARTBEAT * 2 * 1000));
      expect(child.count('delivery', 'busy')).toBe(1);
      expect(child.count('delivery', 'busy', (e) => e.redelivered === true)).toBe(0);
      expect(child.count('reply', 'busy')).toBe(1);
      expect(child.count('disconnected')).toBe(0);
    }, 40_000);
  }
});
