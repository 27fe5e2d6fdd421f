// SERIALIZER end to end on a real broker (a vhost of this file's own): msgpack clients and
// services, mixed with JSON ones; a request built byte for byte as a nameko client
// configured `SERIALIZER: msgpack` sends it; binary values; a poisoned msgpack body; and
// wrong SERIALIZER values.

import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, rpc, RpcProxy, ServiceRunner, type EnokiConfig } from 'enoki';
import { createVhost, type TestVhost } from './support/vhost.js';
import { spyOnExchange } from './support/exchange-spy.js';

let echoed = 0;

class JsonService {
  static name = 'json_service';
  @rpc greet(name: string, punct = '!') {
    return `Hello, ${name}${punct}`;
  }
  @rpc echo(value: unknown) {
    echoed++;
    return value;
  }
  @rpc describe(value: unknown) {
    return { type: value?.constructor?.name ?? typeof value, length: (value as { length?: number })?.length ?? null };
  }
}

class MsgpackService {
  static name = 'msgpack_service';
  json_rpc = new RpcProxy<JsonService>('json_service');
  @rpc echo(value: unknown) {
    return value;
  }
  @rpc async relay(value: unknown) {
    return this.json_rpc.echo(value);
  }
}

class SmallService {
  static name = 'small_service';
  @rpc echo(value: unknown) {
    return value;
  }
}

let vhost: TestVhost;
let jsonConfig: EnokiConfig;
let runners: ServiceRunner[] = [];
let conn: ChannelModel;
let ch: Channel;
/** Everything that crossed the rpc exchange. */
let spied: ConsumeMessage[] = [];

beforeAll(async () => {
  vhost = createVhost('serializer');
  jsonConfig = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } });
  const json = new ServiceRunner(jsonConfig);
  json.add(JsonService);
  const msgpack = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, SERIALIZER: 'msgpack', LOGGING: { level: 'silent' } }));
  msgpack.add(MsgpackService);
  const small = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, MAX_MESSAGE_SIZE: 1000, LOGGING: { level: 'silent' } }));
  small.add(SmallService);
  runners = [json, msgpack, small];
  await Promise.all(runners.map((r) => r.start()));
  ({ conn, ch, messages: spied } = await spyOnExchange(vhost.uri));
});

afterAll(async () => {
  await conn?.close();
  await Promise.all(runners.map((r) => r.stop()));
  vhost?.remove();
});

/** The spied messages of one call: the request (it has reply_to) and its reply, once the spy has both. */
async function spiedCall(correlationId: string | undefined): Promise<{ request: ConsumeMessage; reply: ConsumeMessage }> {
  for (let i = 0; i < 200; i++) {
    const of = spied.filter((m) => m.properties.correlationId === correlationId);
    const request = of.find((m) => m.properties.replyTo);
    const reply = of.find((m) => !m.properties.replyTo);
    if (request && reply) return { request, reply };
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the spy never saw call ${correlationId} and its reply`);
}

/** The last spied message matching `match`, once there is one. */
async function lastSpied(match: (m: ConsumeMessage) => boolean): Promise<ConsumeMessage> {
  for (let i = 0; i < 200; i++) {
    const found = spied.filter(match).at(-1);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the spy never saw the message');
}

/** Publish raw bytes as an RPC request; resolve with the reply message. */
async function rawCall(routingKey: string, body: Buffer, properties: Record<string, unknown>): Promise<ConsumeMessage> {
  const replyTo = `raw-${Math.random().toString(16).slice(2)}`;
  await ch.assertQueue(replyTo, { exclusive: true });
  await ch.bindQueue(replyTo, 'nameko-rpc', replyTo);
  const correlationId = `${replyTo}-1`;
  return new Promise((resolve) => {
    void ch.consume(replyTo, (m) => m && resolve(m), { noAck: true });
    ch.publish('nameko-rpc', routingKey, body, { ...properties, correlationId, replyTo, mandatory: true });
  });
}

describe('msgpack and JSON peers', () => {
  it('a msgpack client calls a JSON service: request and reply are msgpack', async () => {
    await using client = await ClusterRpcProxy.connect(jsonConfig, { serializer: 'msgpack' });
    await expect(client.json_service.greet('world', '?')).resolves.toBe('Hello, world?');
    const request = await lastSpied((m) => m.fields.routingKey === 'json_service.greet');
    const { reply } = await spiedCall(request.properties.correlationId);
    expect(request.properties).toMatchObject({ contentType: 'application/x-msgpack', contentEncoding: 'binary' });
    expect(reply.properties).toMatchObject({ contentType: 'application/x-msgpack', contentEncoding: 'binary' });
    expect(unpack(request.content)).toEqual({ args: ['world', '?'], kwargs: {} });
    expect(unpack(reply.content)).toEqual({ result: 'Hello, world?', error: null });
  });

  it('a JSON client calls a msgpack service: the reply is JSON, the service\'s own call to a JSON service is msgpack', async () => {
    await using client = await ClusterRpcProxy.connect(jsonConfig);
    await expect(client.msgpack_service.relay('x')).resolves.toBe('x');
    const outer = await lastSpied((m) => m.fields.routingKey === 'msgpack_service.relay');
    expect(outer.properties.contentType).toBe('application/json');
    expect(JSON.parse((await spiedCall(outer.properties.correlationId)).reply.content.toString())).toEqual({ result: 'x', error: null });
    const inner = await lastSpied((m) => m.fields.routingKey === 'json_service.echo');
    expect(inner.properties.contentType).toBe('application/x-msgpack');
    expect((await spiedCall(inner.properties.correlationId)).reply.properties.contentType).toBe('application/x-msgpack');
  });

  it('msgpack both ways: a Buffer and a Float32Array round-trip without base64', async () => {
    await using client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, SERIALIZER: 'msgpack', LOGGING: { level: 'silent' } }));
    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    const floats = Float32Array.from({ length: 1000 }, (_, i) => i / 7);
    const got = (await client.msgpack_service.echo({ bytes, floats })) as { bytes: Buffer; floats: Float32Array };
    expect(Buffer.isBuffer(got.bytes)).toBe(true);
    expect(got.bytes.equals(bytes)).toBe(true);
    expect(got.floats).toBeInstanceOf(Float32Array);
    expect(got.floats).toEqual(floats);
    // The JSON service sees the types too, and answers in msgpack.
    await expect(client.json_service.describe(floats)).resolves.toEqual({ type: 'Float32Array', length: 1000 });
    const request = await lastSpied((m) => m.fields.routingKey === 'msgpack_service.echo');
    // 4000 bytes of floats plus a few of framing: no base64 (5336) and no JSON numbers.
    expect(request.content.length).toBeLessThan(4100);
  });

  it('a request built as a Python nameko client with SERIALIZER msgpack sends it gets a msgpack {result, error} reply', async () => {
    // kombu's msgpack serializer: msgpack.packb({'args': ('world',), 'kwargs': {'punct': '?'}},
    // use_bin_type=True), content_type 'application/x-msgpack', content_encoding 'binary'.
    // Written out byte for byte from the MessagePack spec (what packb emits for these values:
    // a fixmap in insertion order, fixstr keys, the tuple as a fixarray):
    const body = Buffer.from([
      0x82, // fixmap, 2 entries
      0xa4, ...Buffer.from('args'), // fixstr(4) 'args'
      0x91, 0xa5, ...Buffer.from('world'), // fixarray(1) [fixstr(5) 'world']
      0xa6, ...Buffer.from('kwargs'), // fixstr(6) 'kwargs'
      0x81, 0xa5, ...Buffer.from('punct'), 0xa1, ...Buffer.from('?'), // fixmap(1) {'punct': '?'}
    ]);
    const reply = await rawCall('json_service.greet', body, {
      contentType: 'application/x-msgpack',
      contentEncoding: 'binary',
      deliveryMode: 2,
      priority: 0,
      headers: { 'nameko.call_id_stack': ['standalone_rpc_proxy.call.3f2b'] },
    });
    expect(reply.properties).toMatchObject({ contentType: 'application/x-msgpack', contentEncoding: 'binary' });
    // Plain MessagePack a Python peer reads with unpackb(raw=False): a fixmap of two str keys.
    expect(reply.content[0]).toBe(0x82);
    expect(unpack(reply.content)).toEqual({ result: 'Hello, world?', error: null });

    // bytes from Python (bin 8) arrive as a Buffer and go back as bin.
    const bytesBody = Buffer.from([0x82, 0xa4, ...Buffer.from('args'), 0x91, 0xc4, 0x03, 0x00, 0x01, 0xff, 0xa6, ...Buffer.from('kwargs'), 0x80]);
    const bytesReply = await rawCall('json_service.echo', bytesBody, { contentType: 'application/x-msgpack', contentEncoding: 'binary' });
    expect(bytesReply.content.subarray(0, 1 + 7 + 1)).toEqual(Buffer.from([0x82, 0xa6, ...Buffer.from('result'), 0xc4]));
    expect(unpack(bytesReply.content)).toEqual({ result: Buffer.from([0, 1, 255]), error: null });
  });

  it('a poisoned msgpack body (a __proto__ key) is refused with a MalformedRequest reply and pollutes nothing', async () => {
    const before = echoed;
    // {'args': [{'__proto__': {'admin': True}}], 'kwargs': {}}
    const body = Buffer.from([
      0x82, 0xa4, ...Buffer.from('args'),
      0x91, 0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa5, ...Buffer.from('admin'), 0xc3,
      0xa6, ...Buffer.from('kwargs'), 0x80,
    ]);
    const reply = await rawCall('json_service.echo', body, { contentType: 'application/x-msgpack', contentEncoding: 'binary' });
    expect(reply.properties.contentType).toBe('application/x-msgpack');
    const decoded = unpack(reply.content) as { result: unknown; error: Record<string, unknown> };
    expect(decoded.result).toBeNull();
    expect(decoded.error).toMatchObject({ exc_type: 'MalformedRequest', exc_path: 'nameko.exceptions.MalformedRequest' });
    expect(String(decoded.error.value)).toContain('args[0].__proto__');
    expect(echoed).toBe(before);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('admin');

    // The words as string values are not keys: such a call goes through.
    await using client = await ClusterRpcProxy.connect(jsonConfig, { serializer: 'msgpack' });
    await expect(client.json_service.echo('__proto__ prototype')).resolves.toBe('__proto__ prototype');
  });

  it('MAX_MESSAGE_SIZE holds for msgpack bodies: refused before decoding, answered in msgpack', async () => {
    await using client = await ClusterRpcProxy.connect(jsonConfig, { serializer: 'msgpack' });
    await expect(client.small_service.echo(new Float32Array(200))).resolves.toEqual(new Float32Array(200));
    await expect(client.small_service.echo(new Float32Array(300))).rejects.toMatchObject({ name: 'MalformedRequest', message: expect.stringContaining('ENOKI_ERR_BODY_TOO_LARGE') });
    const reply = await lastSpied((m) => m.fields.routingKey !== 'small_service.echo' && !m.properties.replyTo && m.properties.contentType === 'application/x-msgpack' && String((unpack(m.content) as { error?: { value?: string } }).error?.value).includes('ENOKI_ERR_BODY_TOO_LARGE'));
    expect((unpack(reply.content) as { error: { exc_type: string } }).error.exc_type).toBe('MalformedRequest');
  });

  it('a body that is not MessagePack gets a MalformedRequest in msgpack', async () => {
    const reply = await rawCall('json_service.echo', Buffer.from([0x82, 0xa4]), { contentType: 'application/x-msgpack' });
    expect((unpack(reply.content) as { error: { exc_type: string } }).error.exc_type).toBe('MalformedRequest');
  });
});

describe('SERIALIZER values', () => {
  it('an unknown SERIALIZER is a coded config error, in the file and in client options', async () => {
    expect(() => loadConfig({ SERIALIZER: 'pickle' })).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_CONFIG_INVALID', message: expect.stringContaining('SERIALIZER') }));
    expect(() => loadConfig({ DELIVERY_MODE: 'sometimes' })).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_CONFIG_INVALID' }));
    expect(() => loadConfig({ PUBLISH_CONFIRMS: 'yes please' })).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_CONFIG_INVALID' }));
    await expect(ClusterRpcProxy.connect(jsonConfig, { serializer: 'xml' as never })).rejects.toMatchObject({ code: 'ENOKI_ERR_CONFIG_INVALID' });
  });

  it('defaults are nameko\'s; kombu\'s numbers are accepted for DELIVERY_MODE', () => {
    expect(loadConfig({})).toMatchObject({ SERIALIZER: 'json', DELIVERY_MODE: 'persistent', PUBLISH_CONFIRMS: true });
    expect(loadConfig({ DELIVERY_MODE: 1 }).DELIVERY_MODE).toBe('transient');
  });
});
