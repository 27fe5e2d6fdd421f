// The AMQP transport around a reconnect, through a TCP proxy that cuts or silences the
// connection on cue (nothing else on the broker is touched): consume() while the
// connection is down or going down, no subscription started twice, a queue deleted under
// its consumer, a publish channel closed by a channel error, and a publish whose confirm
// is lost with the connection (the RPC client sends it again).
import amqp from 'amqplib';
import { ClusterRpcProxy, loadConfig, ServiceRunner } from 'enoki';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AmqpTransport, isConfirmLost } from '../src/transport/amqp-transport.js';
import type { InboundMessage } from '../src/transport/transport.js';
import { FaultService } from './faults/fixtures/fault-service.js';
import { LOG, LogTap, rabbitmqctl, sleep, waitUntil } from './faults/harness.js';
import { TcpProxy } from './faults/tcp-proxy.js';
import { BROKER, createVhost, type TestVhost } from './support/vhost.js';

let vhost: TestVhost;
let proxy: TcpProxy;
let uri: string;
let tap: LogTap;

beforeAll(async () => {
  vhost = createVhost('reconnect');
  proxy = await TcpProxy.start();
  const broker = new URL(BROKER);
  uri = `amqp://${broker.username}:${broker.password}@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost.name)}`;
});

afterAll(async () => {
  await proxy?.close();
  vhost?.remove();
});

beforeEach(() => {
  proxy.restore();
  tap = new LogTap('debug');
});

function transport(): AmqpTransport {
  return new AmqpTransport({ uri, displayUri: uri, heartbeat: 0, connectionName: 'enoki reconnect test', logger: tap.logger });
}

async function consumers(queue: string): Promise<number> {
  const out = await rabbitmqctl('list_consumers', '-q', '-p', vhost.name, 'queue_name');
  return out.split('\n').filter((line) => line.trim() === queue).length;
}

const spec = (queue: string) => ({ queue: { name: queue, durable: true, autoDelete: false, exclusive: false }, exchange: 'reconnect-x', bindings: [`${queue}.*`], prefetch: 10 });

/**
 * Publish on the transport and wait until `received` has `n` entries, and then until the
 * ack has left: acks go out at the end of the turn (ack-batcher.ts) and amqplib writes them
 * a turn later, so a cut right after the delivery would (correctly) have it redelivered.
 */
async function roundTrip(t: AmqpTransport, queue: string, received: InboundMessage[], n: number): Promise<void> {
  await t.publish('reconnect-x', `${queue}.k`, Buffer.from(String(n)), { deliveryMode: 2 });
  await waitUntil(`message ${n} on ${queue}`, () => received.length >= n, 10_000);
  await sleep(100);
}

describe('the AMQP transport around a reconnect', () => {
  it('consume() called while disconnected starts once the connection is back', async () => {
    const t = transport();
    await t.open();
    try {
      proxy.cut();
      await waitUntil('the drop to be seen', () => !t.connected, 5000);
      const received: InboundMessage[] = [];
      const consuming = t.consume(spec('while-down'), (m) => (received.push(m), m.ack()));
      await sleep(500);
      proxy.restore();
      await consuming;
      await roundTrip(t, 'while-down', received, 1);
      expect(await consumers('while-down')).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('consume() whose connection drops half-way is started once, on the new connection', async () => {
    const t = transport();
    await t.open();
    try {
      const received: InboundMessage[] = [];
      const consuming = t.consume(spec('half-way'), (m) => (received.push(m), m.ack()));
      // Cut while the declare/bind/consume steps are on their way.
      setImmediate(() => proxy.cut());
      setTimeout(() => proxy.restore(), 400);
      await consuming; // must not reject: the reconnect takes the subscription over
      await waitUntil('reconnected', () => t.connected, 10_000);
      await roundTrip(t, 'half-way', received, 1);
      // And again, with drops back to back.
      for (let k = 0; k < 3; k++) {
        proxy.cut();
        await sleep(50);
        proxy.restore();
        await waitUntil('reconnected', () => t.connected, 10_000);
      }
      await roundTrip(t, 'half-way', received, 2);
      await sleep(300);
      expect(await consumers('half-way')).toBe(1);
      expect(received).toHaveLength(2);
    } finally {
      await t.close();
    }
  });

  it('consumes again when its queue is deleted under it', async () => {
    const t = transport();
    await t.open();
    const admin = await amqp.connect(vhost.uri);
    try {
      const received: InboundMessage[] = [];
      await t.consume(spec('deleted'), (m) => (received.push(m), m.ack()));
      const ch = await admin.createChannel();
      await ch.deleteQueue('deleted');
      await waitUntil('the queue to be declared again and consumed', async () => (await consumers('deleted')) === 1, 10_000, 200);
      await roundTrip(t, 'deleted', received, 1);
    } finally {
      await admin.close();
      await t.close();
    }
  });

  it('re-opens its publish channel after a channel error, and says what the error was', async () => {
    const t = transport();
    await t.open();
    try {
      const err = (await t.publish('no-such-exchange', 'k', Buffer.from('x'), {}).catch((e: unknown) => e)) as Error & { code?: string };
      expect(err.code).toBe('ENOKI_ERR_PUBLISH');
      expect(err.message).toMatch(/NOT_FOUND - no exchange 'no-such-exchange'/);
      const received: InboundMessage[] = [];
      await t.consume(spec('after-error'), (m) => (received.push(m), m.ack()));
      await roundTrip(t, 'after-error', received, 1);
    } finally {
      await t.close();
    }
  });

  it('rejects a publish whose confirm was lost with the connection as "may or may not have been delivered"', async () => {
    const t = transport();
    await t.open();
    try {
      await t.assertExchange('reconnect-x');
      proxy.blackhole();
      const publishing = t.publish('reconnect-x', 'nobody.k', Buffer.from('x'), {}).catch((e: unknown) => e);
      await sleep(200);
      proxy.cut();
      const err = (await publishing) as Error & { code?: string };
      expect(err.code).toBe('ENOKI_ERR_DISCONNECTED');
      expect(isConfirmLost(err)).toBe(true);
      expect(err.message).toMatch(/may or may not have been delivered/);
    } finally {
      await t.close();
    }
  });

  it('the RPC client sends a request again when its confirm was lost, and the call is answered once', async () => {
    const runner = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }));
    runner.add(FaultService);
    await runner.start();
    const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: uri, LOGGING: { level: 'silent' } }), { logger: tap.logger });
    try {
      proxy.blackhole();
      const call = client.fault_service.echo.call([11], {}, { timeoutMs: 20_000 });
      await sleep(200);
      proxy.cut();
      await sleep(200);
      proxy.restore();
      await expect(call).resolves.toMatchObject({ i: 11 });
      expect(tap.count(LOG.resent)).toBe(1);
      expect(client.inFlight).toBe(0);
      // The reply queue is the same one after the reconnect: one reply queue in the vhost.
      const queues = await rabbitmqctl('list_queues', '-q', '-p', vhost.name, 'name');
      expect(queues.split('\n').filter((q) => q.startsWith('rpc.reply-standalone_rpc_proxy-'))).toHaveLength(1);
    } finally {
      await client.close();
      await runner.stop();
    }
  });
});
