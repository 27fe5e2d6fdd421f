// Prototype poisoning through every decoder of outside input, as an attacker sends it:
// `{"\u005f_proto__": {...}}` parses to an own `__proto__` key that a later
// `Object.assign({}, body)` turns into the prototype. Refused by src/untrusted-json.ts,
// escaped or not, at any depth: an RPC request gets a MalformedRequest reply naming the key
// (test/faults/scenarios.ts's bad-input corpus, run by test/reliability-bad-input.test.ts,
// covers the raw RPC cases), an HTTP body gets 400, an event is logged and dropped; the
// method or handler never runs.

import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventHandler, http, loadConfig, ServiceRunner, webServerAddress, type HttpRequest } from '../src/index.js';
import { parseUntrustedJson, PoisonedJsonError } from '../src/untrusted-json.js';
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

// --- Through a service: HTTP and events on the real broker -------------------------------------

let vhost: TestVhost;
let runner: ServiceRunner;
const merged: Array<Record<string, unknown>> = [];
const handled: unknown[] = [];

class Target {
  static name = 'poison_target';

  /** The pattern the attack needs: user code merging the body into a fresh object. */
  @http('POST', '/merge')
  merge(request: HttpRequest<Record<string, unknown>>) {
    const out = Object.assign({}, request.body);
    merged.push(out);
    return { admin: (out as { admin?: unknown }).admin === true };
  }

  @eventHandler('poison_source', 'thing')
  onThing(payload: unknown) {
    handled.push(payload);
  }
}

let port: number;

beforeAll(async () => {
  vhost = createVhost('poisoning');
  const config = loadConfig({ AMQP_URI: vhost.uri, WEB_SERVER_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'silent' } });
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
