// RPC throughput and latency of `hello` through ClusterRpcProxy, beside a raw-amqplib
// request/reply on the same broker in the same run. Caller and service are separate
// processes. Every connection has noDelay (Nagle off), or the comparison means nothing.
//
//   npx tsx bench/rpc.ts [--calls 20000] [--uri amqp://guest:guest@127.0.0.1:5672]
//                        [--impls raw-minimal,raw,enoki,enoki-otel,enoki-otlp]
//   npx tsx bench/rpc.ts --tracing-ab [--rounds 12] [--burst 3000] [--in-flight 16]
//                        [--ab-impls enoki,enoki-otel,enoki-otlp] (also: enoki-otel-noctx)
//
// The enoki-otel and enoki-otlp rows run with OpenTelemetry tracing on in both processes
// (every call sampled: a client span in the caller, a server span in the service, the
// context in `traceparent`). The caller's SDK discards its spans (batch processor);
// the service's discards them too (enoki-otel) or exports OTLP http/protobuf to a sink in
// this process (enoki-otlp, the SDK that `enoki run` starts from OTEL_* variables).
//
// --tracing-ab measures only enoki, enoki-otel and enoki-otlp, with their three services
// running side by side (a vhost each, made and removed with rabbitmqctl) and short bursts
// of calls taking turns, rotating the order every round: on a shared, noisy machine the
// noise then falls on all three alike. It prints each one's median calls/s over the rounds.
// enoki-otel-noctx is enoki-otel with no context manager registered in the service: what
// Node 20's AsyncLocalStorage (async hooks on every promise) costs, the rest being the same
// (its spans lose their parents inside a method: a measurement, not a setup to use).

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { ClusterRpcProxy, loadConfig } from 'enoki';
import { registerDiscardingSdk, type BenchSdk } from './tracing-sdk.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    uri: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    impls: { type: 'string', default: 'raw-minimal,raw,enoki,enoki-otel,enoki-otlp' },
    'tracing-ab': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '12' },
    burst: { type: 'string', default: '3000' },
    'in-flight': { type: 'string', default: '16' },
    'ab-impls': { type: 'string', default: 'enoki,enoki-otel,enoki-otlp' },
  },
});
const IMPLS = values.impls!.split(',');
const CALLS = Number(values.calls);
const URI = values.uri!;
const CONCURRENCY = [1, 16, 128];
const PREFETCH = 128;

interface Row { impl: string; inFlight: number; callsPerSec: number; p50: number; p99: number }

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** An OTLP/HTTP endpoint that takes every export and keeps only counts: enoki-otlp's sink. */
async function otlpSink(): Promise<{ endpoint: string; posts: () => number; bytes: () => number; close: () => Promise<void> }> {
  let posts = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      posts++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts: () => posts,
    bytes: () => bytes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function startPeer(mode: string, exchange: string, env: NodeJS.ProcessEnv = {}, uri = URI): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/rpc-peer.ts', mode, uri, exchange, String(PREFETCH)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`${mode} peer exited with ${code}`)));
  });
  return child;
}

async function stopPeer(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Run `total` calls with `inFlight` concurrent callers; return per-call latencies in ms. */
async function drive(call: () => Promise<unknown>, total: number, inFlight: number): Promise<{ elapsed: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        next++;
        const t = performance.now();
        await call();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { elapsed: performance.now() - started, latencies: latencies.sort((a, b) => a - b) };
}

async function rawCaller(exchange: string, durable: boolean) {
  const conn = await amqp.connect(URI, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  const key = randomUUID();
  const queue = `rpc.reply-raw-${key}`;
  await ch.assertQueue(queue, durable ? { durable: true, arguments: { 'x-expires': 300000 } } : { exclusive: true });
  await ch.bindQueue(queue, exchange, key);
  const pending = new Map<string, (v: unknown) => void>();
  await ch.consume(queue, (m) => {
    if (!m) return;
    ch.ack(m);
    const done = pending.get(m.properties.correlationId);
    pending.delete(m.properties.correlationId);
    done?.(JSON.parse(m.content.toString()).result);
  });
  const call = () =>
    new Promise((resolve) => {
      const id = randomUUID();
      pending.set(id, resolve);
      ch.publish(exchange, 'bench_service.hello', Buffer.from(JSON.stringify({ args: ['bench'], kwargs: {} })), {
        correlationId: id, replyTo: key, mandatory: true, deliveryMode: durable ? 2 : 1, contentType: 'application/json', contentEncoding: 'utf-8',
        headers: { 'nameko.call_id_stack': ['standalone_rpc_proxy.call.bench'] },
      });
    });
  return { call, close: () => conn.close() };
}

async function measure(impl: string): Promise<Row[]> {
  const exchange = `bench-rpc-${randomUUID().slice(0, 8)}`;
  const sink = impl === 'enoki-otlp' ? await otlpSink() : null;
  const peer = await startPeer(impl, exchange, sink ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } : {});
  // The caller traces too: its client spans, and the traceparent each request carries.
  const callerSdk: BenchSdk | null = impl === 'enoki-otel' || impl === 'enoki-otlp' ? registerDiscardingSdk() : null;
  let client: { call: () => Promise<unknown>; close: () => Promise<void> };
  if (impl.startsWith('enoki')) {
    const rpc = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: URI, rpc_exchange: exchange, LOGGING: { level: 'warn' } }));
    client = { call: () => rpc.bench_service.hello('bench'), close: () => rpc.close() };
  } else {
    client = await rawCaller(exchange, impl === 'raw');
  }
  const rows: Row[] = [];
  try {
    await drive(client.call, 2000, 16); // warm-up: JIT, connections, queue creation
    for (const inFlight of CONCURRENCY) {
      const total = inFlight === 1 ? Math.min(CALLS, 5000) : CALLS;
      const { elapsed, latencies } = await drive(client.call, total, inFlight);
      rows.push({ impl, inFlight, callsPerSec: total / (elapsed / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
      process.stderr.write(`  ${impl} at ${inFlight} in flight: ${(total / (elapsed / 1000)).toFixed(0)} calls/s\n`);
    }
  } finally {
    await client.close();
    await stopPeer(peer);
    if (callerSdk) {
      await callerSdk.shutdown();
      process.stderr.write(`  (${impl} caller: ${callerSdk.exported()} spans exported)\n`);
    }
    if (sink) {
      process.stderr.write(`  (${impl} sink: ${sink.posts()} OTLP posts, ${(sink.bytes() / 1e6).toFixed(1)} MB)\n`);
      await sink.close();
    }
    const conn = await amqp.connect(URI);
    const ch = await conn.createChannel();
    await ch.deleteQueue('rpc-bench_service');
    await ch.deleteExchange(exchange);
    await conn.close();
  }
  return rows;
}

/** --tracing-ab: enoki untraced and traced, services side by side, bursts taking turns. */
async function tracingAB(): Promise<void> {
  const rounds = Number(values.rounds);
  const burst = Number(values.burst);
  const inFlight = Number(values['in-flight']);
  const impls = values['ab-impls']!.split(',');
  console.error(`bench/rpc.ts --tracing-ab: ${rounds} rounds of ${burst} calls at ${inFlight} in flight, ${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}`);
  const { createVhost } = await import('../test/support/vhost.js');
  const sides = [];
  try {
    for (const impl of impls) {
      const vhost = createVhost(`bench-${impl}`);
      const exchange = `bench-rpc-${impl}`;
      const sink = impl === 'enoki-otlp' ? await otlpSink() : null;
      const peer = await startPeer(impl, exchange, sink ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } : {}, vhost.uri);
      const rpc = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, rpc_exchange: exchange, LOGGING: { level: 'warn' } }));
      sides.push({ impl, vhost, sink, peer, rpc, samples: [] as number[] });
    }
    for (let round = -1; round < rounds; round++) {
      for (let i = 0; i < sides.length; i++) {
        const side = sides[(i + Math.max(round, 0)) % sides.length]!;
        // The caller traces during the traced sides' bursts only.
        const callerSdk = side.impl === 'enoki' ? null : registerDiscardingSdk();
        // Round -1 warms up (JIT, connections), unrecorded.
        const { elapsed } = await drive(() => side.rpc.bench_service.hello('bench'), round < 0 ? 2000 : burst, inFlight);
        await callerSdk?.shutdown();
        if (round >= 0) side.samples.push(burst / (elapsed / 1000));
      }
      if (round >= 0) process.stderr.write(`  round ${round + 1}: ${sides.map((s) => `${s.impl} ${s.samples.at(-1)!.toFixed(0)}`).join(', ')} calls/s\n`);
    }
  } finally {
    for (const side of sides) {
      await side.rpc.close();
      await stopPeer(side.peer);
      if (side.sink) {
        process.stderr.write(`  (${side.impl} sink: ${side.sink.posts()} OTLP posts, ${(side.sink.bytes() / 1e6).toFixed(1)} MB)\n`);
        await side.sink.close();
      }
      side.vhost.remove();
    }
  }
  const median = (xs: number[]): number => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const base = median(sides[0]!.samples);
  console.log(`\n| impl | in flight | median calls/s | min | max | vs enoki (tracing off) |`);
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const side of sides) {
    const m = median(side.samples);
    console.log(`| ${side.impl} | ${inFlight} | ${m.toFixed(0)} | ${Math.min(...side.samples).toFixed(0)} | ${Math.max(...side.samples).toFixed(0)} | ${(m / base).toFixed(2)}x |`);
  }
  console.log(`\n${rounds} rounds of ${burst} calls each, the three taking turns in rotating order. enoki-otel / enoki-otlp: tracing on in caller and`);
  console.log('service, every call sampled, batch span processor; spans discarded (enoki-otel) or exported by the service as OTLP http/protobuf to a local sink (enoki-otlp).');
}

if (values['tracing-ab']) {
  await tracingAB();
  process.exit(0);
}

console.error(`bench/rpc.ts: ${CALLS} calls per level, ${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}`);
const results: Row[] = [];
for (const impl of IMPLS) results.push(...(await measure(impl)));

const byKey = new Map(results.map((r) => [`${r.impl}@${r.inFlight}`, r]));
const ratio = (r: Row, base: Row | undefined): string => (base ? `${(r.callsPerSec / base.callsPerSec).toFixed(2)}x` : '-');
const minus = (r: Row, base: Row | undefined): string => (base ? (r.p50 - base.p50).toFixed(3) : '-');
console.log('\n| impl | in flight | calls/s | p50 ms | p99 ms | calls/s vs raw | p50 - raw p50 (ms) | calls/s vs enoki (tracing off) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const raw = byKey.get(`raw@${r.inFlight}`);
  const enoki = r.impl.startsWith('enoki-') ? byKey.get(`enoki@${r.inFlight}`) : undefined;
  console.log(
    `| ${r.impl} | ${r.inFlight} | ${r.callsPerSec.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${ratio(r, raw)} | ${minus(r, raw)} | ${ratio(r, enoki)} |`,
  );
}
console.log(`\nraw = plain amqplib doing enoki's protocol work (persistent messages, durable reply queue, reply confirmed before ack);`);
console.log('raw-minimal = plain amqplib without those guarantees (transient, exclusive reply queue, ack at once): the floor.');
console.log('enoki-otel / enoki-otlp = enoki with OpenTelemetry tracing on in caller and service, every call sampled; batch span');
console.log('processor; spans discarded by the exporter (enoki-otel) or exported by the service as OTLP http/protobuf to a local sink (enoki-otlp).');
