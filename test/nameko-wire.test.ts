// enoki speaks nameko's wire protocol: the captured Python traffic in
// test/fixtures/nameko-wire/ (a copy of the shared captures) is replayed byte for byte into enoki services, and
// enoki's replies and requests are compared with nameko's field by field. Then the
// captured Python replies are fed to the enoki client, which must raise what the Python
// caller raised. Real RabbitMQ, in a vhost of this file's own.

import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClusterRpcProxy,
  DependencyProvider,
  IncorrectSignature,
  loadConfig,
  MethodNotFound,
  RemoteError,
  rpc,
  RpcProxy,
  ServiceRunner,
  type EnokiConfig,
  type WorkerContext,
} from 'enoki';
import { callerSaw, messages, requestReplyPairs, type CapturedMessage } from './fixtures/nameko-wire.js';
import { createVhost, type TestVhost } from './support/vhost.js';
import { spyOnExchange } from './support/exchange-spy.js';

// --- the Python services of the capture, ported --------------------------------------

// Python built-ins travel with exc_path 'builtins.<name>'; the ports say so.
class Exception extends Error {
  static excPath = 'builtins.Exception';
  override name = 'Exception';
}
class ValueError extends Error {
  static excPath = 'builtins.ValueError';
  override name = 'ValueError';
  // Python keeps the constructor arguments; nameko sends them as exc_args.
  readonly args: unknown[];
  constructor(...args: unknown[]) {
    super(`(${args.map((a) => (typeof a === 'string' ? `'${a}'` : String(a))).join(', ')})`);
    this.args = args;
  }
}
class AppError extends Error {
  static excPath = 'services.service1.service1.AppError';
  override name = 'AppError';
}

const seenContext: Array<Record<string, unknown>> = [];
class ContextSpy extends DependencyProvider<null> {
  getDependency(ctx: WorkerContext): null {
    seenContext.push({ ...ctx.contextData, callIdStack: [...ctx.callIdStack] });
    return null;
  }
}

class GreetingService {
  static name = 'greeting_service';
  spy = new ContextSpy();
  @rpc hello(name: string) {
    return `Hello, ${name}!`;
  }
  @rpc greet(name: string, punct = '!', times = 1) {
    return Array.from({ length: times }, () => `Hello, ${name}${punct}`);
  }
  @rpc echo(value: unknown) {
    return value;
  }
  @rpc raise_exception() {
    throw new Exception();
  }
  @rpc raise_value_error() {
    throw new ValueError('bad value', 42);
  }
  @rpc raise_app_error() {
    throw new AppError('custom failure');
  }
}

class Service2 {
  static name = 'service2';
  other_rpc = new RpcProxy<GreetingService>('greeting_service');
  @rpc async hello_service2(name: string) {
    return this.other_rpc.hello(name);
  }
}

// --- harness --------------------------------------------------------------------------

let vhost: TestVhost;
let config: EnokiConfig;
let runner: ServiceRunner;
let conn: ChannelModel;
let ch: Channel;
/** Everything that crossed the exchange, as a nameko spy queue bound with '#' saw it. */
let spied: ConsumeMessage[] = [];

beforeAll(async () => {
  vhost = createVhost('wire');
  config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } });
  runner = new ServiceRunner(config);
  runner.add(GreetingService);
  runner.add(Service2);
  await runner.start();
  ({ conn, ch, messages: spied } = await spyOnExchange(vhost.uri));
});

afterAll(async () => {
  await conn?.close();
  await runner?.stop();
  vhost?.remove();
});

/** Publish a captured request exactly as nameko sent it; resolve with the reply enoki sent. */
async function replay(request: CapturedMessage): Promise<ConsumeMessage> {
  const replyQueue = `replay-${request.properties.reply_to}`;
  await ch.assertQueue(replyQueue, { exclusive: true });
  await ch.bindQueue(replyQueue, 'nameko-rpc', request.properties.reply_to!);
  const p = request.properties;
  return new Promise((resolve) => {
    void ch.consume(replyQueue, (m) => {
      if (m && m.properties.correlationId === p.correlation_id) {
        void ch.cancel(m.fields.consumerTag);
        resolve(m);
      }
    }, { noAck: true });
    ch.publish(request.exchange, request.routing_key, Buffer.from(request.body), {
      contentType: p.content_type as string,
      contentEncoding: p.content_encoding as string,
      deliveryMode: p.delivery_mode as number,
      priority: p.priority as number,
      correlationId: p.correlation_id,
      replyTo: p.reply_to,
      headers: request.headers,
      mandatory: true,
    });
  });
}

describe('replaying captured nameko requests into enoki services', () => {
  const pairs = requestReplyPairs().filter(({ request }) => request.routing_key.startsWith('greeting_service.') || request.routing_key.startsWith('service2.'));
  // Only the outermost request of the nested case is replayed; its inner hop is enoki's own.
  const outer = pairs.filter(({ request }) => messages.indexOf(request) === messages.findIndex((m) => m.case === request.case));

  it('covers every captured RPC case', () => {
    expect(outer.map((p) => p.request.case).sort()).toEqual(
      [...new Set(messages.filter((m) => m.properties.reply_to).map((m) => m.case))].sort(),
    );
  });

  it.each(outer.map((p) => [p.request.case, p] as const))('%s: enoki replies as nameko did', async (_case, { request, reply }) => {
    const got = await replay(request);
    const expected = JSON.parse(reply.body) as { result: unknown; error: Record<string, unknown> | null };
    const actual = JSON.parse(got.content.toString()) as { result: unknown; error: Record<string, unknown> | null };

    expect(got.fields.routingKey).toBe(reply.routing_key);
    expect(got.properties.correlationId).toBe(reply.properties.correlation_id);
    expect(got.properties.contentType).toBe(reply.properties.content_type);
    expect(got.properties.contentEncoding).toBe(reply.properties.content_encoding);
    expect(got.properties.deliveryMode).toBe(reply.properties.delivery_mode);
    expect(got.properties.priority).toBe(reply.properties.priority);
    expect(Object.keys(actual).sort()).toEqual(['error', 'result']);
    expect(actual.result).toEqual(expected.result);
    expect(actual.error).toEqual(expected.error);
  });

  it('a nested call through RpcProxy carries a two-entry call_id_stack, as nameko', async () => {
    const { request } = outer.find((p) => p.request.case === 'nested-service2-rpcproxy')!;
    const captured = messages.filter((m) => m.case === 'nested-service2-rpcproxy');
    const nameko = captured[1]!; // service2 -> greeting_service, as Python sent it
    spied.length = 0;
    await replay(request);
    const inner = spied.find((m) => m.fields.routingKey === 'greeting_service.hello')!;
    expect(inner).toBeDefined();
    const stack = inner.properties.headers!['nameko.call_id_stack'] as string[];
    const namekoStack = nameko.headers['nameko.call_id_stack'] as string[];
    expect(stack).toHaveLength(namekoStack.length);
    expect(stack[0]).toBe(namekoStack[0]);
    expect(stack[1]).toMatch(/^service2\.hello_service2\.[0-9a-f-]{36}$/);
    expect(inner.properties.replyTo).toMatch(/^[0-9a-f-]{36}$/);
    expect(inner.properties.contentType).toBe(nameko.properties.content_type);
    expect(inner.properties.deliveryMode).toBe(nameko.properties.delivery_mode);
    expect(JSON.parse(inner.content.toString())).toEqual(JSON.parse(nameko.body));
  });

  it('context data headers reach the worker context under their nameko names', async () => {
    const { request } = outer.find((p) => p.request.case === 'context-data-headers')!;
    seenContext.length = 0;
    await replay(request);
    expect(seenContext[0]).toMatchObject({ language: 'en-gb', user_id: 42, auth_token: 'tok-123', custom_key: 'v' });
    const stack = seenContext[0]!.callIdStack as string[];
    expect(stack[0]).toBe((request.headers['nameko.call_id_stack'] as string[])[0]);
    expect(stack[1]).toMatch(/^greeting_service\.hello\.[0-9a-f-]{36}$/);
  });
});

describe('enoki client requests look like nameko client requests', () => {
  it('same exchange, routing key, properties, headers and body shape', async () => {
    const nameko = messages.find((m) => m.case === 'context-data-headers')!;
    spied.length = 0;
    const client = await ClusterRpcProxy.connect(config, { contextData: { language: 'en-gb', user_id: 42, auth_token: 'tok-123', custom_key: 'v' } });
    try {
      expect(await client.greeting_service.hello('ctx')).toBe('Hello, ctx!');
    } finally {
      await client.close();
    }
    const sent = spied.find((m) => m.fields.routingKey === 'greeting_service.hello')!;
    expect(sent.fields.exchange).toBe(nameko.exchange);
    const p = sent.properties;
    expect(p.contentType).toBe(nameko.properties.content_type);
    expect(p.contentEncoding).toBe(nameko.properties.content_encoding);
    expect(p.deliveryMode).toBe(nameko.properties.delivery_mode);
    expect(p.priority).toBe(nameko.properties.priority);
    expect(p.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.replyTo).toMatch(/^[0-9a-f-]{36}$/);
    const { 'nameko.call_id_stack': stack, ...context } = p.headers!;
    const { 'nameko.call_id_stack': namekoStack, ...namekoContext } = nameko.headers;
    expect(context).toEqual(namekoContext);
    expect(stack).toHaveLength((namekoStack as string[]).length);
    expect((stack as string[])[0]).toMatch(/^standalone_rpc_proxy\.call\.[0-9a-f-]{36}$/);
    expect(JSON.parse(sent.content.toString())).toEqual(JSON.parse(nameko.body));
  });

  it("declares its reply queue as nameko's: durable, x-expires 300000, bound by the reply_to uuid", async () => {
    const client = await ClusterRpcProxy.connect(config);
    try {
      spied.length = 0;
      await client.greeting_service.hello('q');
      const sent = spied.find((m) => m.fields.routingKey === 'greeting_service.hello')!;
      const queue = `rpc.reply-standalone_rpc_proxy-${sent.properties.replyTo}`;
      // Redeclaring with the same arguments succeeds only if they match exactly.
      const probe = await conn.createChannel();
      await probe.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false, arguments: { 'x-expires': 300000 } });
      await probe.close();
    } finally {
      await client.close();
    }
  });
});

describe('captured nameko replies decoded by the enoki client', () => {
  // A stand-in for the Python services: it answers every request with the reply body the
  // real Python service sent for that case.
  const byCase = new Map(requestReplyPairs().map((p) => [p.request.case, p.reply.body]));
  const replies = new Map<string, string>(); // routing key + args -> captured body

  beforeAll(async () => {
    for (const { request } of requestReplyPairs()) {
      if (request.routing_key.startsWith('python_')) continue;
      replies.set(`${request.routing_key}|${request.body}`, byCase.get(request.case)!);
    }
    await ch.assertQueue('rpc-python_greeting', { exclusive: true });
    await ch.bindQueue('rpc-python_greeting', 'nameko-rpc', 'python_greeting.*');
    await ch.consume('rpc-python_greeting', (m) => {
      if (!m) return;
      const method = m.fields.routingKey.slice('python_greeting.'.length);
      const body = JSON.parse(m.content.toString()) as unknown;
      const match = [...replies.entries()].find(([key]) => {
        const [rk, raw] = key.split('|');
        return rk!.endsWith(`.${method}`) && JSON.stringify(JSON.parse(raw!)) === JSON.stringify(body);
      });
      ch.publish('nameko-rpc', m.properties.replyTo, Buffer.from(match ? match[1] : '{"result": null, "error": null}'), {
        correlationId: m.properties.correlationId,
        contentType: 'application/json',
      });
    }, { noAck: true });
  });

  const cases: Array<[string, string, unknown[], Record<string, unknown>?]> = [
    ['hello-positional', 'hello', ['world']],
    ['greet-kwargs', 'greet', [], { name: 'amy', punct: '?', times: 2 }],
    ['echo-nested-unicode', 'echo', [JSON.parse(messages.find((m) => m.case === 'echo-nested-unicode')!.body).args[0]]],
    ['echo-none', 'echo', [null]],
    ['error-bare-exception', 'raise_exception', []],
    ['error-value-error-args', 'raise_value_error', []],
    ['error-custom-class', 'raise_app_error', []],
    ['error-method-not-found', 'nope', []],
    ['error-incorrect-signature-missing', 'hello', []],
    ['error-incorrect-signature-extra', 'hello', ['a', 'b']],
  ];

  it.each(cases)('%s: the enoki caller sees what the Python caller saw', async (name, method, args, kwargs) => {
    const saw = callerSaw.get(name)!;
    const client = await ClusterRpcProxy.connect(config, { timeoutMs: 5000 });
    try {
      const call = client.call('python_greeting', method, args, { kwargs });
      if (!saw.raised) {
        expect(await call).toEqual(saw.result);
        return;
      }
      const err = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      const expectedClass = { RemoteError, MethodNotFound, IncorrectSignature }[saw.raised]!;
      expect(err).toBeInstanceOf(expectedClass);
      if (err instanceof RemoteError) {
        expect(err.excType).toBe(saw.exc_type);
        // Python prints RemoteError as "<exc_type> <value>".
        expect(`${err.excType} ${err.value}`).toBe(saw.str);
      } else {
        expect((err as Error).message).toBe(saw.str);
      }
    } finally {
      await client.close();
    }
  });
});
