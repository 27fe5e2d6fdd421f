// SERIALIZER for events on a real RabbitMQ (a vhost of this file's own): a dispatcher
// configured msgpack publishes kombu's application/x-msgpack, and a handler in a JSON-configured
// service reads it by content type (typed arrays included); a poisoned msgpack event is dropped.

import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventDispatcher, eventHandler, loadConfig, ServiceContainer, type EnokiConfig } from 'enoki';
import { eventually, sleep } from './helpers/eventually.js';
import { createVhost, type TestVhost } from './support/vhost.js';

let vhost: TestVhost;
let config: EnokiConfig;
let container: ServiceContainer;
const seen: unknown[] = [];

class Listener {
  static name = 'listener';
  @eventHandler('sensor', 'reading') reading(payload: unknown) {
    seen.push(payload);
  }
}

beforeAll(async () => {
  vhost = createVhost('events-msgpack');
  config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } });
  container = new ServiceContainer(Listener as never, config);
  await container.start();
});

afterAll(async () => {
  await container?.stop();
  vhost?.remove();
});

describe('events and SERIALIZER', () => {
  it('a msgpack dispatcher\'s event reaches a JSON service\'s handler, Float32Array intact', async () => {
    await using dispatch = await eventDispatcher(loadConfig({ AMQP_URI: vhost.uri, SERIALIZER: 'msgpack', LOGGING: { level: 'silent' } }));
    const conn = await amqp.connect(vhost.uri);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'sensor.events', 'reading');
    const raw: amqp.ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && raw.push(m), { noAck: true });

    const values = Float32Array.from([0.5, 1.5, 2.5]);
    await dispatch('sensor', 'reading', { id: 7, values });
    await eventually(() => seen.length === 1, 'the msgpack event handled');
    const got = seen[0] as { id: number; values: Float32Array };
    expect(got.id).toBe(7);
    expect(got.values).toBeInstanceOf(Float32Array);
    expect(got.values).toEqual(values);
    await eventually(() => raw.length === 1, 'the spy saw the event');
    expect(raw[0]!.properties).toMatchObject({ contentType: 'application/x-msgpack', contentEncoding: 'binary', deliveryMode: 2 });
    await conn.close();
  });

  it('a poisoned msgpack event is dropped, pollutes nothing, and the handler keeps working', async () => {
    const before = seen.length;
    const conn = await amqp.connect(vhost.uri);
    const ch = await conn.createConfirmChannel();
    // {'__proto__': {'polluted': True}}
    const poisoned = Buffer.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa8, ...Buffer.from('polluted'), 0xc3]);
    ch.publish('sensor.events', 'reading', poisoned, { contentType: 'application/x-msgpack', contentEncoding: 'binary' });
    ch.publish('sensor.events', 'reading', Buffer.from([0x81, 0xa2, ...Buffer.from('id'), 0x08]), { contentType: 'application/x-msgpack', contentEncoding: 'binary' });
    await ch.waitForConfirms();
    await eventually(() => seen.length === before + 1, 'the clean event after the poisoned one handled');
    await sleep(100);
    expect(seen.slice(before)).toEqual([{ id: 8 }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await conn.close();
  });
});
