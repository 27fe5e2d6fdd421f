// OpenTelemetry tracing on the real broker: one HTTP request through a gateway, two RPC
// hops, a @cpuBound method and an event makes one trace, each span under the right parent;
// log lines carry the trace id; HTTP continues an incoming traceparent; trace context a
// Python nameko hop passed on (`nameko.traceparent`) is continued and never becomes context
// data. The SDK here is the test's own: a NodeTracerProvider with an in-memory exporter.

import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClusterRpcProxy, loadConfig, ServiceRunner, timer, webServerAddress, type ClusterClient, type EnokiConfig } from '../src/index.js';
import { captureLogs, type CapturedLogs } from './helpers/log-capture.js';
import { seenContextData, TraceA, TraceB, TraceC, TraceGateway } from './fixtures/tracing/services.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const SPAN_KIND = { INTERNAL: 0, SERVER: 1, CLIENT: 2 } as const;

let vhost: TestVhost;
let config: EnokiConfig;
let runner: ServiceRunner;
let client: ClusterClient;
let logs: CapturedLogs;
let base: string;
let spy: { conn: ChannelModel; requests: ConsumeMessage[] };
const exporter = new InMemorySpanExporter();
let provider: NodeTracerProvider | null = null;

function registerSdk(): void {
  provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  // Registers the provider, the AsyncLocalStorage context manager and the W3C propagator.
  provider.register();
}

async function unregisterSdk(): Promise<void> {
  await provider?.shutdown();
  provider = null;
  trace.disable();
  context.disable();
  propagation.disable();
}

beforeAll(async () => {
  vhost = createVhost('tracing');
  config = loadConfig({ AMQP_URI: vhost.uri, WEB_SERVER_ADDRESS: '127.0.0.1:0', POOL: { threads: 1 } });
  logs = captureLogs('info');
  runner = new ServiceRunner(config, { logger: logs.logger });
  runner.add(TraceGateway);
  runner.add(TraceA);
  runner.add(TraceB);
  runner.add(TraceC);
  await runner.start();
  base = webServerAddress(config)!.url;
  client = await ClusterRpcProxy.connect(config, { logger: captureLogs('silent').logger });
  // A queue of the test's own bound to trace_c's requests: what went over the wire.
  const conn = await amqp.connect(vhost.uri);
  const channel = await conn.createChannel();
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, config.rpc_exchange, 'trace_c.*');
  spy = { conn, requests: [] };
  await channel.consume(queue, (message) => message && spy.requests.push(message), { noAck: true });
}, 60_000);

afterAll(async () => {
  await unregisterSdk();
  await spy?.conn.close();
  await client?.close();
  await runner?.stop();
  vhost?.remove();
});

beforeEach(() => {
  exporter.reset();
  spy.requests.length = 0;
  seenContextData.length = 0;
  logs.records.length = 0;
});

/** The finished spans of one trace, by name and kind. */
function spansOf(traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

function find(spans: ReadableSpan[], name: string, kind: number): ReadableSpan {
  const found = spans.filter((s) => s.name === name && s.kind === kind);
  expect(found, `${name} (kind ${kind}) in ${spans.map((s) => `${s.name}/${s.kind}`).join(', ')}`).toHaveLength(1);
  return found[0]!;
}

/** The one finished span named `name` (of `kind`), once it has ended. */
async function finished(name: string, kind = SPAN_KIND.SERVER as number): Promise<ReadableSpan> {
  return vi.waitFor(() => {
    const found = exporter.getFinishedSpans().filter((s) => s.name === name && s.kind === kind);
    expect(found).toHaveLength(1);
    return found[0]!;
  });
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

describe('tracing off (no SDK registered)', () => {
  it('sends no trace headers and changes nothing on the wire', async () => {
    expect(await (await fetch(`${base}/relay/off`)).json()).toEqual({ relayed: 'off!' });
    await vi.waitFor(() => expect(spy.requests).toHaveLength(1));
    const headers = spy.requests[0]!.properties.headers!;
    expect(Object.keys(headers).sort()).toEqual(['nameko.call_id_stack']);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    expect(logs.records.some((r) => 'trace_id' in r)).toBe(false);
  });
});

describe('tracing on', () => {
  beforeAll(() => registerSdk());

  it('one HTTP request through A, B, a pool thread and C is one trace, each span under its caller', async () => {
    expect(await (await fetch(`${base}/relay/ada`)).json()).toEqual({ relayed: 'ada!' });
    await vi.waitFor(() => expect(TraceC.relayed).toContain('ada'));
    const gateway = await finished('trace_gateway.relay');
    const traceId = gateway.spanContext().traceId;
    // Server spans end after their reply is sent (with the call's hooks), the event
    // handler's after the gateway answered: wait for all ten.
    await vi.waitFor(() => expect(spansOf(traceId)).toHaveLength(10));
    const spans = spansOf(traceId);

    expect(gateway.kind).toBe(SPAN_KIND.SERVER);
    expect(parentOf(gateway)).toBeUndefined();
    const aClient = find(spans, 'trace_a.relay', SPAN_KIND.CLIENT);
    const aServer = find(spans, 'trace_a.relay', SPAN_KIND.SERVER);
    const bClient = find(spans, 'trace_b.crunch', SPAN_KIND.CLIENT);
    const bServer = find(spans, 'trace_b.crunch', SPAN_KIND.SERVER);
    const thread = find(spans, 'trace_b.crunch thread', SPAN_KIND.INTERNAL);
    const cClient = find(spans, 'trace_c.echo', SPAN_KIND.CLIENT);
    const cServer = find(spans, 'trace_c.echo', SPAN_KIND.SERVER);
    const dispatch = find(spans, 'trace_a.relayed', SPAN_KIND.CLIENT);
    const handler = find(spans, 'trace_c.onRelayed', SPAN_KIND.SERVER);

    expect(parentOf(aClient)).toBe(gateway.spanContext().spanId);
    expect(parentOf(aServer)).toBe(aClient.spanContext().spanId);
    expect(parentOf(bClient)).toBe(aServer.spanContext().spanId);
    expect(parentOf(bServer)).toBe(bClient.spanContext().spanId);
    expect(parentOf(thread)).toBe(bServer.spanContext().spanId);
    // The nested call made from the pool thread is a child of the thread's span.
    expect(parentOf(cClient)).toBe(thread.spanContext().spanId);
    expect(parentOf(cServer)).toBe(cClient.spanContext().spanId);
    expect(parentOf(dispatch)).toBe(aServer.spanContext().spanId);
    expect(parentOf(handler)).toBe(dispatch.spanContext().spanId);
    expect(spans).toHaveLength(10);

    expect(aServer.attributes).toMatchObject({ 'enoki.entrypoint': 'rpc', 'rpc.system': 'nameko', 'rpc.method': 'relay' });
    expect(handler.attributes).toMatchObject({ 'enoki.entrypoint': 'event' });
    // The thread's span lies within its call's span.
    const ms = (t: [number, number]): number => t[0] * 1e3 + t[1] / 1e6;
    expect(ms(thread.startTime)).toBeGreaterThanOrEqual(ms(bServer.startTime) - 1);
    expect(ms(thread.endTime)).toBeLessThanOrEqual(ms(bServer.endTime) + 1);

    // On the wire: the nameko headers as before, plus traceparent naming the client span.
    const headers = spy.requests.at(-1)!.properties.headers!;
    expect(Object.keys(headers).sort()).toEqual(['nameko.call_id_stack', 'traceparent']);
    expect(headers.traceparent).toBe(`00-${traceId}-${cClient.spanContext().spanId}-01`);
    // ... which does not become context data.
    expect(seenContextData.at(-1)).toEqual({});
  });

  it("joins each call's log lines to its trace: trace_id and span_id of the call's span", async () => {
    await fetch(`${base}/relay/logs`);
    const traceId = (await finished('trace_gateway.relay')).spanContext().traceId;
    // Every call of the trace has ended (a server span ends after its reply, with its hooks).
    await vi.waitFor(() => expect(spansOf(traceId)).toHaveLength(10));
    const aServer = find(spansOf(traceId), 'trace_a.relay', SPAN_KIND.SERVER);
    const bServer = find(spansOf(traceId), 'trace_b.crunch', SPAN_KIND.SERVER);
    const aLines = logs.records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('trace_a.relay'));
    expect(aLines.length).toBeGreaterThanOrEqual(2); // starting, completed
    for (const line of aLines) expect(line).toMatchObject({ trace_id: traceId, span_id: aServer.spanContext().spanId });
    // A line logged from the pool thread, through the call's logger on the main thread.
    const threadLine = logs.records.find((r) => r.msg === 'crunching in a pool thread');
    expect(threadLine).toMatchObject({ trace_id: traceId, span_id: bServer.spanContext().spanId });
  });

  it('a request without traceparent starts a new trace; one with traceparent continues it', async () => {
    await fetch(`${base}/relay/one`);
    await fetch(`${base}/relay/two`);
    await vi.waitFor(() => expect(exporter.getFinishedSpans().filter((s) => s.name === 'trace_gateway.relay')).toHaveLength(2));
    const roots = exporter.getFinishedSpans().filter((s) => s.name === 'trace_gateway.relay');
    expect(roots[0]!.spanContext().traceId).not.toBe(roots[1]!.spanContext().traceId);
    for (const root of roots) expect(parentOf(root)).toBeUndefined();

    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const res = await fetch(`${base}/relay/continued`, { headers: { traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=x' } });
    expect(res.status).toBe(200);
    const gateway = await finished('trace_gateway.relay');
    expect(gateway.spanContext().traceId).toBe(traceId);
    expect(parentOf(gateway)).toBe(parentId);
    expect(gateway.spanContext().traceState?.get('vendor')).toBe('x');
    expect(spansOf(traceId).length).toBeGreaterThanOrEqual(8);
  });

  it('HTTP server spans carry the semantic conventions\' http.* attributes: method, route pattern, path, status', async () => {
    const res = await fetch(`${base}/relay/seven?token=not-in-the-span`, { headers: { 'user-agent': 'tracing-test/1' } });
    expect(res.status).toBe(200);
    const ok = await finished('trace_gateway.relay');
    expect(ok.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/relay/:name',
      'url.path': '/relay/seven',
      'url.scheme': 'http',
      'http.response.status_code': 200,
      'network.protocol.version': '1.1',
      'user_agent.original': 'tracing-test/1',
      'enoki.entrypoint': 'http',
    });
    expect(ok.attributes['client.address']).toMatch(/127\.0\.0\.1/);
    // The query is left out: it may carry secrets.
    expect(JSON.stringify(ok.attributes)).not.toContain('not-in-the-span');
    expect(ok.status.code).toBe(0); // UNSET
    // The RPC spans of the same trace get no http.* attributes.
    expect(spansOf(ok.spanContext().traceId).filter((s) => s !== ok && Object.keys(s.attributes).some((k) => k.startsWith('http.')))).toEqual([]);

    // A 4xx is the client's error, a 5xx the server's: only the 5xx marks the span failed.
    for (const code of [404, 503]) {
      exporter.reset();
      expect((await fetch(`${base}/status/${code}`)).status).toBe(code);
      const span = await finished('trace_gateway.status');
      expect(span.attributes).toMatchObject({ 'http.route': '/status/:code', 'url.path': `/status/${code}`, 'http.response.status_code': code });
      expect(span.status.code, String(code)).toBe(code >= 500 ? 2 : 0); // ERROR : UNSET
      expect(span.attributes['error.type']).toBe(code >= 500 ? String(code) : undefined);
    }
  });

  it('a Python nameko hop\'s nameko.traceparent is continued, and kept out of context data', async () => {
    // nameko 2.x keeps every header it receives as context data and sends it all on as
    // nameko.<key>: behind a Python service, the trace context arrives prefixed.
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const parentId = 'b7ad6b7169203331';
    const conn = await amqp.connect(vhost.uri);
    try {
      const channel = await conn.createChannel();
      const { queue } = await channel.assertQueue('', { exclusive: true });
      await channel.bindQueue(queue, config.rpc_exchange, queue);
      const reply = new Promise<ConsumeMessage>((resolve) => void channel.consume(queue, (m) => m && resolve(m), { noAck: true }));
      channel.publish(config.rpc_exchange, 'trace_c.echo', Buffer.from(JSON.stringify({ args: ['py'], kwargs: {} })), {
        replyTo: queue,
        correlationId: 'py-1',
        contentType: 'application/json',
        headers: { 'nameko.call_id_stack': ['py_service.method.0'], 'nameko.traceparent': `00-${traceId}-${parentId}-01`, 'nameko.language': 'en' },
      });
      expect(JSON.parse((await reply).content.toString())).toEqual({ result: 'py', error: null });
    } finally {
      await conn.close();
    }
    await vi.waitFor(() => expect(spansOf(traceId)).toHaveLength(1));
    const server = find(spansOf(traceId), 'trace_c.echo', SPAN_KIND.SERVER);
    expect(parentOf(server)).toBe(parentId);
    expect(seenContextData.at(-1)).toEqual({ language: 'en' });
  });

  it('each timer tick is a call span of its own trace', async () => {
    class Ticker {
      static name = 'trace_ticker';
      @timer(0.05, { eager: true })
      tick() {}
    }
    const ticking = new ServiceRunner(loadConfig({ AMQP_URI: 'memory://tracing-timer' }), { logger: captureLogs('silent').logger });
    ticking.add(Ticker);
    await ticking.start();
    try {
      await vi.waitFor(() => expect(exporter.getFinishedSpans().filter((s) => s.name === 'trace_ticker.tick').length).toBeGreaterThanOrEqual(2));
    } finally {
      await ticking.stop();
    }
    const ticks = exporter.getFinishedSpans().filter((s) => s.name === 'trace_ticker.tick');
    for (const tick of ticks) {
      expect(tick.kind).toBe(SPAN_KIND.SERVER);
      expect(tick.attributes['enoki.entrypoint']).toBe('timer');
      expect(parentOf(tick)).toBeUndefined();
    }
    expect(new Set(ticks.map((t) => t.spanContext().traceId)).size).toBe(ticks.length);
  });

  it('a call that throws marks its server and client spans with an error status', async () => {
    await expect(client.trace_c.fail()).rejects.toThrow(/boom/);
    const server = await finished('trace_c.fail', SPAN_KIND.SERVER);
    const caller = await finished('trace_c.fail', SPAN_KIND.CLIENT);
    expect(server.status).toMatchObject({ code: 2, message: 'Error: boom' });
    expect(caller.status.code).toBe(2);
    expect(parentOf(server)).toBe(caller.spanContext().spanId);
  });
});
