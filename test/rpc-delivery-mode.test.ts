// DELIVERY_MODE and PUBLISH_CONFIRMS on a real broker (a vhost of this file's own): what
// the broker receives is inspected with a raw amqplib consumer bound to every routing key
// of the rpc exchange.

import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, rpc, ServiceRunner } from 'enoki';
import { createVhost, type TestVhost } from './support/vhost.js';
import { spyOnExchange } from './support/exchange-spy.js';

class PlainService {
  static name = 'plain_service';
  @rpc hello(name: string) {
    return `Hello, ${name}!`;
  }
}

class FastService {
  static name = 'fast_service';
  @rpc hello(name: string) {
    return `Hello, ${name}!`;
  }
}

let vhost: TestVhost;
const runners: ServiceRunner[] = [];
let conn: ChannelModel;
let ch: Channel;
let spied: ConsumeMessage[] = [];
const silent = { LOGGING: { level: 'silent' } } as const;

beforeAll(async () => {
  vhost = createVhost('delivery-mode');
  const plain = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, ...silent }));
  plain.add(PlainService);
  const fast = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, DELIVERY_MODE: 'transient', PUBLISH_CONFIRMS: false, ...silent }));
  fast.add(FastService);
  runners.push(plain, fast);
  await Promise.all(runners.map((r) => r.start()));
  ({ conn, ch, messages: spied } = await spyOnExchange(vhost.uri));
});

afterAll(async () => {
  await conn?.close();
  await Promise.all(runners.map((r) => r.stop()));
  vhost?.remove();
});

/** The request of the last call to `routingKey` and its reply, as the broker routed them. */
async function lastCall(routingKey: string): Promise<{ request: ConsumeMessage; reply: ConsumeMessage }> {
  for (let i = 0; i < 200; i++) {
    const request = spied.filter((m) => m.fields.routingKey === routingKey).at(-1);
    const reply = request && spied.find((m) => !m.properties.replyTo && m.properties.correlationId === request.properties.correlationId);
    if (request && reply) return { request, reply };
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the spy never saw a call to ${routingKey} with its reply`);
}

describe('DELIVERY_MODE', () => {
  it('persistent by default: delivery_mode 2 on the request and the reply', async () => {
    await using client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, ...silent }));
    await client.plain_service.hello('a');
    const { request, reply } = await lastCall('plain_service.hello');
    expect(request.properties.deliveryMode).toBe(2);
    expect(reply.properties.deliveryMode).toBe(2);
  });

  it('transient (client and service configured so): delivery_mode 1 on the request and the reply', async () => {
    await using client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, DELIVERY_MODE: 'transient', ...silent }));
    await expect(client.fast_service.hello('b')).resolves.toBe('Hello, b!');
    const { request, reply } = await lastCall('fast_service.hello');
    expect(request.properties.deliveryMode).toBe(1);
    expect(reply.properties.deliveryMode).toBe(1);
  });

  it('per client: a transient client of a persistent service sends transient requests, gets persistent replies', async () => {
    await using client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, ...silent }), { deliveryMode: 'transient' });
    await client.plain_service.hello('c');
    const { request, reply } = await lastCall('plain_service.hello');
    expect(request.properties.deliveryMode).toBe(1);
    expect(reply.properties.deliveryMode).toBe(2);
  });
});

describe('PUBLISH_CONFIRMS false', () => {
  it('answers every call (client and service unconfirmed, transient)', async () => {
    await using client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, DELIVERY_MODE: 'transient', PUBLISH_CONFIRMS: false, ...silent }));
    const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => client.fast_service.hello(String(i))));
    expect(results).toEqual(Array.from({ length: 2000 }, (_, i) => `Hello, ${i}!`));
    expect(client.inFlight).toBe(0);
  });

  it('answers every call with persistent messages and an unconfirmed client of a confirming service', async () => {
    await using client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, ...silent }), { publishConfirms: false });
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => client.plain_service.hello(String(i))));
    expect(new Set(results).size).toBe(500);
  });

  it('still fails a call to a service nobody serves, at its timeout (no confirm, so no return is seen)', async () => {
    await using client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, ...silent }), { publishConfirms: false, timeoutMs: 300 });
    await expect(client.nobody_service.hello('x')).rejects.toMatchObject({ code: 'ENOKI_ERR_RPC_TIMEOUT' });
  });
});
