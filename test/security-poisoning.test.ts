// Prototype poisoning through every decoder of outside input, as an attacker sends it:
// `{"\u005f_proto__": {...}}` parses to an own `__proto__` key that a later
// `Object.assign({}, body)` turns into the prototype. Refused by src/untrusted-json.ts
// (and src/untrusted-msgpack.ts), escaped or not, at any depth: a raw RPC request gets a
// MalformedRequest reply naming the key, an RPC reply fails the call with MalformedRequest,
// an HTTP body (JSON or form) or query string gets 400, an event is logged and dropped; the
// method or handler never runs. (test/reliability-bad-input.test.ts runs more raw RPC
// shapes; test/rpc-serializer.test.ts and test/events-msgpack.test.ts the msgpack ones.)

import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { pack, unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, eventHandler, http, isEnokiError, loadConfig, rpc, ServiceRunner, webServerAddress, type EnokiConfig, type HttpRequest } from '../src/index.js';
import { parseUntrustedJson, PoisonedJsonError } from '../src/untrusted-json.js';
import { parseUntrustedMsgpack, PoisonedMessagePackError } from '../src/untrusted-msgpack.js';
import { eventually } from './helpers/eventually.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const ESCAPED_TOP = '{"\\u005f_proto__": {"admin": true}, "name": "x"}';
const ESCAPED_NESTED = '{"user": {"roles": [{"_\\u005fproto__": {"admin": true}}]}}';
const CONSTRUCTOR = '{"a": {"constructor": {"prototype": {"admin": true}}}}';

describe('parseUntrustedJson', () => {
  it('refuses __proto__ keys, escaped or not, at any depth, naming where', () => {
    const refused = (text: string): string => {
      try {
        parseUntrustedJson(text);
      } catch (err) {
        expect(err).toBeInstanceOf(PoisonedJsonError);
        return (err as PoisonedJsonError).path;
      }
      throw new Error(`accepted ${text}`);
    };
    expect(refused('{"__proto__": {}}')).toBe('__proto__');
    expect(refused(ESCAPED_TOP)).toBe('__proto__');
    expect(refused(ESCAPED_NESTED)).toBe('user.roles[0].__proto__');
    expect(refused(CONSTRUCTOR)).toBe('a.constructor.prototype');
    expect(refused('[1, {"\\u005F\\u005Fproto\\u005F\\u005F": 1}]')).toBe('[1].__proto__');
  });

  it('parses clean JSON as JSON.parse does, including the words in values and harmless keys', () => {
    for (const text of ['{"a": "__proto__"}', '{"constructor": {"name": "x"}}', '{"prototype": 1}', '[1, "two", null, {"n": 1.5}]', '"__proto__"']) {
      expect(parseUntrustedJson(text)).toEqual(JSON.parse(text));
    }
  });

  it('throws SyntaxError for text that is not JSON', () => {
    expect(() => parseUntrustedJson('{nope')).toThrow(SyntaxError);
    expect(() => parseUntrustedJson('{nope')).not.toThrow(PoisonedJsonError);
  });
});

describe('parseUntrustedMsgpack', () => {
  it('refuses a __proto__ key however it is packed (fixstr, str8, bin, a one-element array), and constructor.prototype', () => {
    const fixstr = (t: string) => Buffer.concat([Buffer.from([0xa0 | t.length]), Buffer.from(t)]);
    const admin = Buffer.concat([Buffer.from([0x81]), fixstr('admin'), Buffer.from([0xc3])]);
    const keys = {
      fixstr: fixstr('__proto__'),
      str8: Buffer.concat([Buffer.from([0xd9, 9]), Buffer.from('__proto__')]),
      bin: Buffer.concat([Buffer.from([0xc4, 9]), Buffer.from('__proto__')]),
      array: Buffer.concat([Buffer.from([0x91]), fixstr('__proto__')]),
    };
    for (const [name, key] of Object.entries(keys)) {
      // {'user': {<key>: {'admin': True}}}
      const body = Buffer.concat([Buffer.from([0x81]), fixstr('user'), Buffer.from([0x81]), key, admin]);
      expect(() => parseUntrustedMsgpack(body), name).toThrow(PoisonedMessagePackError);
      expect(() => parseUntrustedMsgpack(body), name).toThrow(/the key user\.__proto__ is not allowed/);
    }
    const ctor = Buffer.concat([Buffer.from([0x81]), fixstr('constructor'), Buffer.from([0x81]), fixstr('prototype'), admin]);
    expect(() => parseUntrustedMsgpack(ctor)).toThrow(/the key constructor\.prototype is not allowed/);
    expect(parseUntrustedMsgpack(pack({ note: '__proto__', prototype: 1, constructor: 'x' }))).toEqual({ note: '__proto__', prototype: 1, constructor: 'x' });
    expect(Object.prototype).not.toHaveProperty('admin');
  });
});

// --- Through a service: HTTP and events on the real broker -------------------------------------

let vhost: TestVhost;
let runner: ServiceRunner;
const merged: Array<Record<string, unknown>> = [];
const handled: unknown[] = [];
const rpcMerged: Array<Record<string, unknown>> = [];
const formMerged: Array<Record<string, unknown>> = [];

class Target {
  static name = 'poison_target';

  /** The pattern the attack needs: user code merging the body into a fresh object. */
  @http('POST', '/merge')
  merge(request: HttpRequest<Record<string, unknown>>) {
    const out = Object.assign({}, request.body);
    merged.push(out);
    return { admin: (out as { admin?: unknown }).admin === true };
  }

  @http('POST', '/form')
  form(request: HttpRequest<Record<string, unknown>>) {
    const out = Object.assign({}, request.body, request.query);
    formMerged.push(out);
    return { proto: Object.getPrototypeOf(out) === Object.prototype };
  }

  /** The same pattern over RPC: the reproduction saw `admin: true` here. */
  @rpc
  mergeRpc(value: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const out = Object.assign({}, value, extra);
    rpcMerged.push(out);
    return { admin: (out as { admin?: unknown }).admin === true };
  }

  @eventHandler('poison_source', 'thing')
  onThing(payload: unknown) {
    handled.push(payload);
  }
}

let port: number;
let config: EnokiConfig;

beforeAll(async () => {
  vhost = createVhost('poisoning');
  config = loadConfig({ AMQP_URI: vhost.uri, WEB_SERVER_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'silent' } });
  runner = new ServiceRunner(config);
  runner.add(Target);
  await runner.start();
  port = webServerAddress(config)!.port;
});

afterAll(async () => {
  await runner?.stop();
  vhost?.remove();
});

async function post(body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/merge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, text: await res.text() };
}

describe('an @http body', () => {
  it('with an escaped __proto__ at the top level or nested is refused with 400, naming the key; the method never runs', async () => {
    for (const [body, path] of [
      [ESCAPED_TOP, '__proto__'],
      [ESCAPED_NESTED, 'user.roles[0].__proto__'],
      [CONSTRUCTOR, 'a.constructor.prototype'],
    ] as const) {
      const { status, text } = await post(body);
      expect(status, body).toBe(400);
      expect(text).toContain(path);
    }
    expect(merged).toEqual([]);
  });

  it('that is clean is served', async () => {
    expect(await post('{"name": "__proto__ is only a word here"}')).toEqual({ status: 200, text: '{"admin":false}' });
  });

  it('as a form, or a query string, with a __proto__ key is refused with 400 (a repeated key would make an array the prototype)', async () => {
    const form = (query: string, body: string) =>
      fetch(`http://127.0.0.1:${port}/form${query}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    for (const [query, body] of [
      ['', '__proto__=a&__proto__=b'],
      ['', 'x=1&%5F%5Fproto%5F%5F=a&__proto__=b'],
      ['?__proto__=a&__proto__=b', 'x=1'],
      ['?%5F_proto__=a&__proto__=b', 'x=1'],
    ]) {
      const res = await form(query!, body!);
      expect(res.status, `${query} ${body}`).toBe(400);
      expect(await res.text()).toContain('the key __proto__ is not allowed');
    }
    expect(formMerged).toEqual([]);
    const clean = await form('?q=__proto__', 'name=__proto__&constructor=x');
    expect(clean.status).toBe(200);
    expect(await clean.json()).toEqual({ proto: true });
  });
});

// --- Raw RPC requests and replies, published with amqplib ---------------------------------

describe('a raw RPC request', () => {
  let conn: ChannelModel;
  let ch: Channel;
  beforeAll(async () => {
    conn = await amqp.connect(vhost.uri, { noDelay: true });
    ch = await conn.createChannel();
  });
  afterAll(async () => conn?.close());

  /** Publish `body` as a request to poison_target.mergeRpc; resolve with the reply. */
  async function rawCall(body: Buffer, contentType: string): Promise<{ message: ConsumeMessage; reply: { result: unknown; error: Record<string, unknown> | null } }> {
    const replyTo = `raw-${Math.random().toString(16).slice(2)}`;
    await ch.assertQueue(replyTo, { exclusive: true });
    await ch.bindQueue(replyTo, 'nameko-rpc', replyTo);
    const message = await new Promise<ConsumeMessage>((resolve) => {
      void ch.consume(replyTo, (m) => m && resolve(m), { noAck: true });
      ch.publish('nameko-rpc', 'poison_target.mergeRpc', body, { contentType, correlationId: `${replyTo}-1`, replyTo, mandatory: true });
    });
    const reply = (message.properties.contentType === 'application/x-msgpack' ? unpack(message.content) : JSON.parse(message.content.toString())) as {
      result: unknown;
      error: Record<string, unknown> | null;
    };
    return { message, reply };
  }

  it('with an escaped or nested __proto__, in JSON or MessagePack, gets a MalformedRequest reply naming the key; the method never runs', async () => {
    // msgpack with a `__proto__` key, as a hostile kombu peer could pack it (msgpackr's own encoder would not).
    const str = (s: string) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
    const poisonedPack = Buffer.concat([Buffer.from([0x82]), str('args'), Buffer.from([0x91, 0x81]), str('__proto__'), pack({ admin: true }), str('kwargs'), Buffer.from([0x80])]);
    for (const [body, contentType, path] of [
      ['{"args": [{"\\u005f_proto__": {"admin": true}}], "kwargs": {}}', 'application/json', 'args[0].__proto__'],
      ['{"args": [{}], "kwargs": {"extra": {"deep": [{"_\\u005fproto__": {"admin": true}}]}}}', 'application/json', 'kwargs.extra.deep[0].__proto__'],
      ['{"\\u005f_proto__": {"admin": true}, "args": [{}], "kwargs": {}}', 'application/json', '__proto__'],
      ['{"args": [{"constructor": {"prototype": {"admin": true}}}], "kwargs": {}}', 'application/json', 'args[0].constructor.prototype'],
      [poisonedPack, 'application/x-msgpack', 'args[0].__proto__'],
    ] as const) {
      const { reply } = await rawCall(Buffer.isBuffer(body) ? body : Buffer.from(body), contentType);
      expect(reply.result, path).toBeNull();
      expect(reply.error, path).toMatchObject({ exc_type: 'MalformedRequest', exc_path: 'nameko.exceptions.MalformedRequest' });
      expect(String(reply.error!.value), path).toContain(`the key ${path} is not allowed`);
    }
    expect(rpcMerged).toEqual([]);
    expect(Object.prototype).not.toHaveProperty('admin');
    // The same call, clean, is answered.
    const { reply } = await rawCall(Buffer.from('{"args": [{"name": "__proto__"}], "kwargs": {}}'), 'application/json');
    expect(reply).toEqual({ result: { admin: false }, error: null });
  });
});

describe('an RPC reply', () => {
  it('with a poisoned key, in JSON or MessagePack, fails the call with MalformedRequest naming the key', async () => {
    // A "service" that answers every call with a poisoned reply, as a hostile publisher to a reply queue could.
    const conn = await amqp.connect(vhost.uri, { noDelay: true });
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('rpc-fake_replier', { exclusive: true });
      await ch.bindQueue('rpc-fake_replier', 'nameko-rpc', 'fake_replier.*');
      const str = (s: string) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
      const replies: Record<string, [Buffer, string]> = {
        json: [Buffer.from('{"result": {"ok": {"\\u005f_proto__": {"admin": true}}}, "error": null}'), 'application/json'],
        msgpack: [Buffer.concat([Buffer.from([0x82]), str('result'), Buffer.from([0x81]), str('__proto__'), pack({ admin: true }), str('error'), Buffer.from([0xc0])]), 'application/x-msgpack'],
      };
      await ch.consume(
        'rpc-fake_replier',
        (m) => {
          if (!m) return;
          const [body, contentType] = replies[m.fields.routingKey.split('.')[1]!]!;
          ch.publish('nameko-rpc', m.properties.replyTo as string, body, { contentType, correlationId: m.properties.correlationId as string });
        },
        { noAck: true },
      );
      await using client = await ClusterRpcProxy.connect(config);
      for (const [method, path] of [
        ['json', 'result.ok.__proto__'],
        ['msgpack', 'result.__proto__'],
      ] as const) {
        const failure = await client.fake_replier![method]!().then(
          (value: unknown) => ({ value }),
          (err: unknown) => err as Error,
        );
        expect(isEnokiError(failure, 'ENOKI_ERR_MALFORMED_REQUEST'), String(failure)).toBe(true);
        expect((failure as Error).message).toContain(`the key ${path} is not allowed`);
      }
      expect(Object.prototype).not.toHaveProperty('admin');
    } finally {
      await conn.close();
    }
  });
});

describe('an event', () => {
  it('with an escaped __proto__ is dropped and never handled; the next clean one is', async () => {
    const connection = await amqp.connect(vhost.uri);
    try {
      const channel = await connection.createConfirmChannel();
      const publish = (body: string) =>
        new Promise<void>((resolve, reject) =>
          channel.publish('poison_source.events', 'thing', Buffer.from(body), { contentType: 'application/json', deliveryMode: 2 }, (err) => (err ? reject(err) : resolve())),
        );
      await publish(ESCAPED_NESTED);
      await publish('{"clean": true}');
    } finally {
      await connection.close();
    }
    await eventually(() => handled.length > 0, 'the clean event to be handled', 10_000);
    // Give a wrongly accepted poisoned event, published first, time to show up too.
    await new Promise((r) => setTimeout(r, 200));
    expect(handled).toEqual([{ clean: true }]);
    expect(Object.prototype).not.toHaveProperty('admin');
  });
});
