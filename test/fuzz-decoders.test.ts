// Property-based tests (fast-check) of the code that reads outside input: whatever arrives,
// each decoder answers with a value or its own coded refusal, never another exception, a
// hang, or a polluted Object.prototype.
//
//   the RPC wire decoder     any bytes, any content type    -> a request, or MalformedRequest
//   the reply decoder        any bytes                      -> a reply, MalformedRequest or SyntaxError
//   the msgpack request      any bytes, packed values, poisoned maps (application/x-msgpack)
//     decoder                                               -> a request, or MalformedRequest
//   nameko.* headers         any header table               -> context data and a string call id stack
//   the untrusted JSON parse any JSON text, poisoned or not -> JSON.parse's value, or a refusal
//   signature binding        any parameter list, args/kwargs -> bound arguments, or IncorrectSignature
//   HTTP body parsing        any bytes, any content type    -> a body, or BodyError (400/413/415)
//   the config loader        any YAML file                  -> a config, or a coded ENOKI_ERR_CONFIG_* error
//   ${VAR:default}           any text and environment       -> a value, or ENOKI_ERR_CONFIG_VAR
//   HTTP routing             any method and path, on a live server -> 2xx/4xx, never 5xx; the server keeps serving
//   the event decoder        any bytes, any content type    -> a payload, or ENOKI_ERR_EVENT_PAYLOAD
//   an RPC consumer          any body, content type, headers, reply_to and correlation_id,
//     (memory transport)     published to a running service -> an error/result reply or a log line, each
//                                                              message; the service answers a normal call after
//
// `npm test` runs them with a fixed seed and FUZZ_RUNS (default 300) cases each, so CI is
// reproducible; `npm run fuzz` runs them longer with a fresh seed (FUZZ_SECONDS, default 60,
// split among the properties). A failure prints the seed and the shrunk counterexample.

import fc from 'fast-check';
import yaml from 'js-yaml';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, isEnokiError, loadConfig, ServiceRunner, webServerAddress } from '../src/index.js';
import { substitute } from '../src/config-substitute.js';
import { IncorrectSignature, MalformedRequest } from '../src/errors.js';
import { contextFromHeaders } from '../src/context-headers.js';
import { BodyError, parseBody } from '../src/http/request.js';
import { decodeReply, decodeRequest } from '../src/rpc/wire.js';
import { Packr } from 'msgpackr';
import { bindArguments, type Signature } from '../src/signature.js';
import { parseUntrustedJson, PoisonedJsonError } from '../src/untrusted-json.js';
import { decodeEvent } from '../src/events/event-wire.js';
import { MemoryTransport } from '../src/transport/memory-transport.js';
import type { InboundMessage } from '../src/transport/transport.js';
import { captureLogs } from './helpers/log-capture.js';
import { rpc } from '../src/index.js';

const LONG = process.env.ENOKI_FUZZ === 'long';
/** How many properties share FUZZ_SECONDS under `npm run fuzz`. */
const PROPERTIES = 12;
const runs = Number(process.env.FUZZ_RUNS ?? 300);
const seconds = Number(process.env.FUZZ_SECONDS ?? 60);
/** A fixed seed in `npm test` (reproducible CI); a fresh one per run under `npm run fuzz`. */
const params: fc.Parameters<unknown> = LONG
  ? { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: (seconds * 1000) / PROPERTIES, markInterruptAsFailure: false }
  : { numRuns: runs, seed: 20261202 };
const TIMEOUT = LONG ? (seconds * 1000) / PROPERTIES + 30_000 : 60_000;

/** Bytes that are sometimes JSON-ish: plain random bytes rarely get past the first character. */
const jsonish = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.json().map((t) => Buffer.from(t)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify({ args: v, kwargs: v }))),
  fc.tuple(fc.constantFrom('__proto__', '\\u005f_proto__', 'constructor', 'prototype', 'args', 'kwargs'), fc.jsonValue()).map(([k, v]) => Buffer.from(`{"${k}": ${JSON.stringify(v)}, "args": [{"${k}": {"polluted": true}}], "kwargs": {}}`)),
);
const contentType = fc.option(fc.oneof(fc.constantFrom('application/json', 'text/json', 'application/x-json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'text/plain; charset=nope', 'application/octet-stream'), fc.string()), { nil: undefined });

const packr = new Packr({ useRecords: false, moreTypes: true });
/** A msgpack map header for `n` entries, and a str header + bytes, as any msgpack encoder writes them. */
const mapOf = (n: number): Buffer => Buffer.from([0x80 | n]);
const str = (s: string): Buffer => Buffer.concat([Buffer.from([0xa0 | Buffer.byteLength(s)]), Buffer.from(s)]);
/** Bytes that are sometimes MessagePack requests: random bytes, packed values, truncated packs, poisoned maps. */
const msgpackish = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.jsonValue().map((v) => packr.pack({ args: v, kwargs: v })),
  fc.tuple(fc.array(fc.jsonValue(), { maxLength: 4 }), fc.dictionary(fc.string(), fc.jsonValue())).map(([args, kwargs]) => packr.pack({ args, kwargs })),
  fc.tuple(fc.jsonValue(), fc.nat()).map(([v, cut]) => {
    const whole = packr.pack({ args: [v], kwargs: {} });
    return whole.subarray(0, cut % (whole.length + 1));
  }),
  fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.jsonValue(), fc.boolean()).map(([key, value, nested]) => {
    // {'args': [{<key>: {'polluted': True, 'prototype': {'polluted': True}}}], 'kwargs': {}} or the key at the top.
    const poison = Buffer.concat([mapOf(2), str('polluted'), Buffer.from([0xc3]), str('prototype'), mapOf(1), str('polluted'), Buffer.from([0xc3])]);
    if (!nested) return Buffer.concat([mapOf(3), str(key), poison, str('args'), packr.pack([value]), str('kwargs'), mapOf(0)]);
    return Buffer.concat([mapOf(2), str('args'), Buffer.from([0x91]), mapOf(1), str(key), poison, str('kwargs'), mapOf(0)]);
  }),
);

function noPollution(): void {
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

describe('fuzz: decoders of outside input', () => {
  it('decodeRequest: a request or MalformedRequest, for any bytes and content type', () => {
    fc.assert(
      fc.property(jsonish, contentType, (body, type) => {
        try {
          const { args, kwargs } = decodeRequest(body, { contentType: type, headers: {} } as never);
          expect(Array.isArray(args)).toBe(true);
          expect(typeof kwargs).toBe('object');
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedRequest);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('decodeRequest (application/x-msgpack): a request or MalformedRequest, for any bytes; poisoned maps are refused', () => {
    fc.assert(
      fc.property(msgpackish, (body) => {
        let request;
        try {
          request = decodeRequest(body, { contentType: 'application/x-msgpack', headers: {} } as never);
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedRequest);
          return;
        }
        expect(Array.isArray(request.args)).toBe(true);
        expect(typeof request.kwargs).toBe('object');
        // Whatever got through has no poisoning key left anywhere.
        expect(JSON.stringify(request, (_k, v: unknown) => (ArrayBuffer.isView(v) ? null : v))).not.toMatch(/"__proto__"|"constructor":\{[^}]*"prototype"/);
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('decodeReply: a reply, MalformedRequest, or SyntaxError for text that is not JSON', () => {
    fc.assert(
      fc.property(jsonish, (body) => {
        try {
          const reply = decodeReply(body);
          expect(reply).toHaveProperty('result');
          expect(reply).toHaveProperty('error');
        } catch (err) {
          expect(err instanceof MalformedRequest || err instanceof SyntaxError).toBe(true);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('contextFromHeaders: context data and a list of strings, for any header table', () => {
    const header = fc.oneof(fc.constantFrom('nameko.call_id_stack', 'nameko.__proto__', 'nameko.constructor', 'nameko.user_id', 'nameko.language', 'x-other'), fc.string().map((s) => `nameko.${s}`), fc.string());
    fc.assert(
      fc.property(fc.dictionary(header, fc.anything({ maxDepth: 3 })), (headers) => {
        const { contextData, callIdStack } = contextFromHeaders(headers);
        expect(typeof contextData).toBe('object');
        expect(callIdStack.every((id) => typeof id === 'string')).toBe(true);
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('parseUntrustedJson: what JSON.parse gives for clean text; a refusal for poisoned text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.jsonValue().map((v) => JSON.stringify({ a: [v, { ['__proto__']: v }] }).replace('"__proto__"', '"\\u005f_proto__"'))), (text) => {
        try {
          expect(parseUntrustedJson(text)).toEqual(JSON.parse(text));
        } catch (err) {
          expect(err).toBeInstanceOf(PoisonedJsonError);
          expect(text).toMatch(/proto|constructor/);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('bindArguments: bound arguments or IncorrectSignature, for any parameter list and call', () => {
    const param = fc.record({ name: fc.option(fc.constantFrom('a', 'b', 'c', 'kw', '__proto__', 'constructor'), { nil: undefined }), hasDefault: fc.boolean(), rest: fc.constant(false) });
    const signature = fc.tuple(fc.array(param, { maxLength: 5 }), fc.boolean()).map(([ps, rest]): Signature => {
      const params = rest ? [...ps, { name: 'more', hasDefault: false, rest: true }] : ps;
      const firstOptional = params.findIndex((p) => p.hasDefault || p.rest);
      return { method: 'm', params, required: firstOptional < 0 ? params.length : firstOptional, hasRest: rest };
    });
    const kwargs = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'kw', 'more', 'zzz', '__proto__', 'constructor', 'toString'), fc.jsonValue(), { maxKeys: 4 });
    fc.assert(
      fc.property(signature, fc.array(fc.jsonValue(), { maxLength: 7 }), kwargs, (sig, args, kw) => {
        try {
          const bound = bindArguments(sig, args, kw);
          expect(Array.isArray(bound)).toBe(true);
          expect(bound.length).toBeGreaterThanOrEqual(Math.min(args.length, sig.params.length));
        } catch (err) {
          expect(err).toBeInstanceOf(IncorrectSignature);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('parseBody: a body or BodyError (400/413/415), for any bytes and content type', () => {
    fc.assert(
      fc.property(jsonish, contentType, (bytes, type) => {
        try {
          parseBody(bytes, type);
        } catch (err) {
          expect(err).toBeInstanceOf(BodyError);
          expect([400, 413, 415]).toContain((err as BodyError).status);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('loadConfig: a config or a coded config error, for any YAML file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enoki-fuzz-config-'));
    const file = join(dir, 'config.yaml');
    const known = fc.constantFrom('AMQP_URI', 'AMQP_URL', 'POOL', 'LOGGING', 'HTTP', 'AMQP_SSL', 'max_workers', 'HEARTBEAT', 'RPC_TIMEOUT', '__proto__', 'constructor', 'x');
    const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.dictionary(fc.constantFrom('threads', 'level', 'headers_timeout', 'nope', '__proto__'), fc.jsonValue({ maxDepth: 1 })), fc.constantFrom('${A}', '${A:${B:x}}', '${', 'amqp://u:p@h/v'));
    const text = fc.oneof(fc.dictionary(known, value).map((tree) => yaml.dump(tree)), fc.string({ maxLength: 200 }));
    try {
      fc.assert(
        fc.property(text, (source) => {
          writeFileSync(file, source);
          try {
            const config = loadConfig(file, { env: {}, onWarning: () => undefined });
            expect(typeof config.AMQP_URI).toBe('string');
          } catch (err) {
            expect(isEnokiError(err) && /^ENOKI_ERR_CONFIG_/.test(err.code), String(err)).toBe(true);
          }
        }),
        params,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    noPollution();
  }, TIMEOUT);

  it('${VAR:default}: a value or ENOKI_ERR_CONFIG_VAR, for any text and environment', () => {
    const text = fc.string({ unit: fc.constantFrom('$', '{', '}', ':', 'A', 'B', 'x', ' ', '\\'), maxLength: 40 });
    const env = fc.dictionary(fc.constantFrom('A', 'B', 'x', 'constructor', 'toString'), fc.string({ maxLength: 5 }));
    fc.assert(
      fc.property(text, env, (t, e) => {
        try {
          substitute({ k: t }, '', { source: 'fuzz', env: e });
        } catch (err) {
          expect(isEnokiError(err, 'ENOKI_ERR_CONFIG_VAR'), String(err)).toBe(true);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);
});

describe('fuzz: the event decoder', () => {
  it('decodeEvent: a payload or ENOKI_ERR_EVENT_PAYLOAD, for any bytes and content type; poisoned keys are refused', () => {
    fc.assert(
      fc.property(fc.oneof(jsonish, msgpackish), fc.option(fc.constantFrom('application/json', 'application/x-msgpack', 'text/plain'), { nil: undefined }), (body, type) => {
        let payload: unknown;
        try {
          payload = decodeEvent(body, type);
        } catch (err) {
          expect(isEnokiError(err, 'ENOKI_ERR_EVENT_PAYLOAD'), String(err)).toBe(true);
          return;
        }
        expect(JSON.stringify(payload, (_k, v: unknown) => (ArrayBuffer.isView(v) || typeof v === 'bigint' ? null : v)) ?? '').not.toMatch(/"__proto__"|"constructor":\{[^}]*"prototype"/);
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);
});

describe('fuzz: an RPC consumer on the memory transport', () => {
  const logs = captureLogs('warn');
  class Wire {
    static name = 'fuzz_wire';
    @rpc
    echo(value: unknown) {
      return value;
    }
  }
  let runner: ServiceRunner;
  let publisher: MemoryTransport;
  const replies: InboundMessage[] = [];
  beforeAll(async () => {
    const config = loadConfig({ AMQP_URI: 'memory://fuzz-wire', LOGGING: { level: 'warn' } });
    runner = new ServiceRunner(config, { logger: logs.logger });
    runner.add(Wire);
    await runner.start();
    publisher = new MemoryTransport('memory://fuzz-wire');
    await publisher.open();
    await publisher.consume(
      { queue: { name: 'fuzz-replies', durable: false, autoDelete: false, exclusive: true }, exchange: 'nameko-rpc', bindings: ['fuzz-replies'], prefetch: 0 },
      (m) => {
        m.ack();
        replies.push(m);
      },
    );
  });
  afterAll(async () => {
    await publisher?.close();
    await runner?.stop();
  });

  it('answers any message with a reply or a log line, and keeps serving', async () => {
    const header = fc.oneof(fc.constantFrom('nameko.call_id_stack', 'nameko.__proto__', 'nameko.constructor', 'nameko.user_id', 'traceparent', 'x-other'), fc.string());
    const message = fc.record({
      body: fc.oneof(jsonish, msgpackish),
      contentType: fc.option(fc.constantFrom('application/json', 'application/x-msgpack', 'application/x-python-serialize', 'text/plain'), { nil: undefined }),
      headers: fc.dictionary(header, fc.anything({ maxDepth: 2 }), { maxKeys: 4 }),
      replyTo: fc.boolean(),
      correlationId: fc.boolean(),
      method: fc.constantFrom('echo', 'echo', 'nope', 'constructor', '__proto__'),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        const id = `fuzz-${n++}`;
        // What answers this message: a reply with its correlation id; a reply without one
        // (MalformedRequest: nothing to match it by); or, with no reply_to, a log line.
        const rejected = () => logs.records.filter((r) => String(r.msg).startsWith('rejected an RPC request without reply_to')).length;
        const uncorrelated = () => replies.filter((r) => r.properties.correlationId === undefined).length;
        const answered: () => boolean = !m.replyTo
          ? ((before) => () => rejected() > before)(rejected())
          : m.correlationId
            ? () => replies.some((r) => r.properties.correlationId === id)
            : ((before) => () => uncorrelated() > before)(uncorrelated());
        await publisher.publish('nameko-rpc', `fuzz_wire.${m.method}`, m.body, {
          contentType: m.contentType,
          headers: m.headers,
          replyTo: m.replyTo ? 'fuzz-replies' : undefined,
          correlationId: m.correlationId ? id : undefined,
        });
        const deadline = Date.now() + 5_000;
        while (!answered() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
        expect(answered(), 'a reply or a log line').toBe(true);
      }),
      LONG ? params : { ...params, numRuns: Math.min(runs, 150) },
    );
    noPollution();
    expect(logs.records.filter((r) => r.level >= 60)).toEqual([]);
    // Still serving.
    const id = 'fuzz-final';
    const count = replies.length;
    await publisher.publish('nameko-rpc', 'fuzz_wire.echo', Buffer.from('{"args": [42], "kwargs": {}}'), { contentType: 'application/json', replyTo: 'fuzz-replies', correlationId: id });
    const deadline = Date.now() + 5_000;
    while (replies.length === count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(JSON.parse(replies.at(-1)!.body.toString())).toEqual({ result: 42, error: null });
  }, TIMEOUT);
});

describe('fuzz: HTTP routing on a live server', () => {
  class Routes {
    static name = 'fuzz_routes';
    @http('GET', '/items/:id')
    item(request: { params: Record<string, string> }) {
      return { id: request.params.id };
    }
    @http('POST,PUT', '/items/:id/notes')
    note() {
      return 'ok';
    }
  }
  let runner: ServiceRunner;
  let port: number;
  beforeAll(async () => {
    const config = loadConfig({ AMQP_URI: 'memory://fuzz-routes', WEB_SERVER_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'silent' } });
    runner = new ServiceRunner(config);
    runner.add(Routes);
    await runner.start();
    port = webServerAddress(config)!.port;
  });
  afterAll(async () => runner?.stop());

  const send = (method: string, path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });

  it('answers any method and path with 2xx or 4xx, never 5xx, and keeps serving', async () => {
    const path = fc.oneof(
      fc.webPath(),
      fc.string({ unit: fc.constantFrom('/', 'items', 'notes', '%', '2', 'F', '%00', '..', ':', '*', '?', '#', 'a'), maxLength: 30 }).map((p) => `/${p}`),
      fc.string({ minLength: 90, maxLength: 200 }).map((p) => `/items/${encodeURIComponent(p)}`),
    );
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH');
    await fc.assert(
      fc.asyncProperty(method, path, async (m, p) => {
        const status = await send(m, p);
        expect(status, `${m} ${p}`).toBeGreaterThanOrEqual(200);
        expect(status, `${m} ${p}`).toBeLessThan(500);
      }),
      LONG ? params : { ...params, numRuns: Math.min(runs, 150) },
    );
    expect(await send('GET', '/items/42')).toBe(200);
  }, TIMEOUT);
});
