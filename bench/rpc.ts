// RPC throughput and latency of `hello` through ClusterRpcProxy, beside a raw-amqplib
// request/reply on the same broker in the same run. Caller and service are separate
// processes. Every connection has noDelay (Nagle off), or the comparison means nothing.
// enoki runs with its defaults (max_workers 10, persistent, confirmed, JSON) and varied one
// setting at a time: max_workers 128, DELIVERY_MODE transient with PUBLISH_CONFIRMS false (to
// compare with raw-minimal), SERIALIZER msgpack, METRICS_ADDRESS set (scraped every second),
// OpenTelemetry tracing (enoki-otel, enoki-otlp: below). Then the inference case: a 1 MB
// float array per request (262144 float32), JSON (a number list) against msgpack (the
// Float32Array's bytes).
// With --rounds N every implementation runs N times, in a rotated order each round, and the
// tables show medians: on a 2-core machine shared by broker, service and caller one run is
// noise. Each peer also reports its CPU time per call (steadier than calls/s when busy).
// Prints markdown tables and writes bench/results/rpc.json (not with --only).
// It runs enoki from dist/, built first, as users get it (see below).
// Each run makes a vhost of its own (rabbitmqctl) and removes it: the service queue is
// always 'rpc-bench_service', and two runs on one vhost would take each other's calls.
//
//   npx tsx bench/rpc.ts [--rounds 3] [--calls 20000] [--payload-calls 300] [--only raw,enoki]
//                        [--uri amqp://guest:guest@127.0.0.1:5672]
//   npx tsx bench/rpc.ts --tracing-ab [--rounds 12] [--burst 3000] [--in-flight 16]
//                        [--ab-impls enoki,enoki-otel,enoki-otlp] (also: enoki-otel-noctx, enoki-metrics)
//
// The enoki-otel and enoki-otlp rows run with OpenTelemetry tracing on in both processes
// (every call sampled: a client span in the caller, a server span in the service, the
// context in `traceparent`). The caller's SDK discards its spans (batch processor);
// the service's discards them too (enoki-otel) or exports OTLP http/protobuf to a sink in
// this process (enoki-otlp, the SDK that `enoki run` starts from OTEL_* variables).
//
// --tracing-ab measures only enoki and its traced variants, their services running side by
// side (a vhost each, made and removed with rabbitmqctl) and short bursts of calls taking
// turns, rotating the order every round: on a shared, noisy machine the noise then falls on
// all alike. It prints each one's median calls/s over the rounds. enoki-otel-noctx is
// enoki-otel with no context manager registered in the service: what Node 20's
// AsyncLocalStorage (async hooks on every promise) costs, the rest being the same (its
// spans lose their parents inside a method: a measurement, not a setup to use).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { runFromDist } from './run-from-dist.js';
import amqp from 'amqplib';
import { ClusterRpcProxy, loadConfig } from 'enoki';
import { median } from './stats.js';
import { registerDiscardingSdk, type BenchSdk } from './tracing-sdk.js';

// enoki as users run it: the compiled dist/ (run-from-dist.ts); the peers inherit this.
runFromDist();

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    'payload-calls': { type: 'string', default: '300' },
    only: { type: 'string' },
    uri: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    'tracing-ab': { type: 'boolean', default: false },
    rounds: { type: 'string' },
    burst: { type: 'string', default: '3000' },
    'in-flight': { type: 'string', default: '16' },
    'ab-impls': { type: 'string', default: 'enoki,enoki-otel,enoki-otlp' },
  },
});
const CALLS = Number(values.calls);
const PAYLOAD_CALLS = Number(values['payload-calls']);
/** --only enoki,enoki-msgpack: just those rows (quick comparisons; the ratio columns need raw and raw-minimal). */
const ONLY = values.only?.split(',');
const wanted = (impl: string): boolean => !ONLY || ONLY.includes(impl);
const PAYLOAD_CONCURRENCY = [1, 8];
/** 1 MB of float32: the inference case. */
const FLOATS = Float32Array.from({ length: 262_144 }, (_, i) => Math.sin(i));
const CONCURRENCY = [1, 16, 128];
const ROUNDS = Number(values.rounds ?? (values['tracing-ab'] ? 12 : 1));

// A vhost of this run's own (see the top of the file).
const BASE_URI = values.uri!.replace(/\/+$/, '');
const VHOST = `enoki-bench-rpc-${process.pid}`;
const rabbitmqctl = (...args: string[]): void => void execFileSync('rabbitmqctl', args, { stdio: 'ignore' });
rabbitmqctl('add_vhost', VHOST);
rabbitmqctl('set_permissions', '-p', VHOST, 'guest', '.*', '.*', '.*');
process.once('exit', () => rabbitmqctl('delete_vhost', VHOST));
const URI = `${BASE_URI}/${encodeURIComponent(VHOST)}`;

interface Row { impl: string; inFlight: number; callsPerSec: number; p50: number; p99: number }
/** CPU time a peer used per call it served, in µs (one value per run). */
const cpuPerCall = new Map<string, number[]>();

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

/** A peer process: the child, the URL of its /metrics (enoki-metrics), and the CPU µs it reports when stopped. */
interface Peer {
  child: ChildProcess;
  metricsUrl?: string;
  cpuUs?: number;
}

async function startPeer(mode: string, exchange: string, env: NodeJS.ProcessEnv = {}, uri = URI): Promise<Peer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/rpc-peer.ts', mode, uri, exchange], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const peer: Peer = { child };
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const text = d.toString();
      peer.metricsUrl ??= /metrics (\S+)/.exec(text)?.[1];
      const cpu = /cpu (\d+)/.exec(text)?.[1];
      if (cpu) peer.cpuUs = Number(cpu);
      if (text.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${mode} peer exited with ${code}`)));
  });
  return peer;
}

/** SIGTERM; resolves with the CPU µs the peer used since it was ready. */
async function stopPeer(peer: Peer): Promise<number | undefined> {
  const exited = new Promise((r) => peer.child.once('exit', r));
  peer.child.kill('SIGTERM');
  await exited;
  return peer.cpuUs;
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

/** The client settings of each enoki row (the peer is started with the same: bench/rpc-peer.ts). */
const ENOKI_CLIENTS: Record<string, object> = {
  enoki: {},
  'enoki-mw128': {},
  'enoki-transient': { DELIVERY_MODE: 'transient', PUBLISH_CONFIRMS: false },
  'enoki-msgpack': { SERIALIZER: 'msgpack' },
  'enoki-metrics': {},
  'enoki-otel': {},
  'enoki-otlp': {},
};

/** A traced row: the caller traces too (its client spans, the traceparent each request carries). */
const traced = (impl: string): boolean => impl.startsWith('enoki-otel') || impl === 'enoki-otlp';

interface Case {
  /** Row label. */
  impl: string;
  /** bench/rpc-peer.ts mode. */
  peer: string;
  /** Client config over the defaults, for enoki clients. */
  client?: object;
  /** One call's arguments, for enoki clients: `hello` when absent. */
  sum?: unknown;
  levels: number[];
  calls: number;
  warmup: number;
}

async function measure(c: Case): Promise<Row[]> {
  const { impl } = c;
  const exchange = `bench-rpc-${randomUUID().slice(0, 8)}`;
  const sink = c.peer === 'enoki-otlp' ? await otlpSink() : null;
  const peer = await startPeer(c.peer, exchange, sink ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } : {});
  const callerSdk: BenchSdk | null = traced(c.peer) ? registerDiscardingSdk() : null;
  let client: { call: () => Promise<unknown>; close: () => Promise<void> };
  if (c.client) {
    const rpc = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: URI, rpc_exchange: exchange, LOGGING: { level: 'warn' }, ...c.client }));
    const call = c.sum === undefined ? () => rpc.bench_service.hello('bench') : () => rpc.bench_service.sum(c.sum);
    client = { call, close: () => rpc.close() };
  } else {
    client = await rawCaller(exchange, impl === 'raw');
  }
  // Scraped from here, once a second, as Prometheus would: the service pays for its own answer only.
  const scraper = peer.metricsUrl ? setInterval(() => void fetch(`${peer.metricsUrl}/metrics`).then((r) => r.text()).catch(() => undefined), 1000) : undefined;
  let served = 0;
  const rows: Row[] = [];
  try {
    await drive(client.call, c.warmup, Math.min(16, c.warmup)); // warm-up: JIT, connections, queue creation
    served += c.warmup;
    for (const inFlight of c.levels) {
      const total = inFlight === 1 ? Math.min(c.calls, 5000) : c.calls;
      served += total;
      const { elapsed, latencies } = await drive(client.call, total, inFlight);
      rows.push({ impl, inFlight, callsPerSec: total / (elapsed / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
      process.stderr.write(`  ${impl} at ${inFlight} in flight: ${(total / (elapsed / 1000)).toFixed(0)} calls/s\n`);
    }
  } finally {
    if (scraper) clearInterval(scraper);
    await client.close();
    const cpu = await stopPeer(peer);
    if (cpu !== undefined && c.sum === undefined) cpuPerCall.set(impl, [...(cpuPerCall.get(impl) ?? []), cpu / served]);
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
  const rounds = ROUNDS;
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
      // enoki-metrics is scraped once a second, as Prometheus would, for the whole run.
      const scraper = peer.metricsUrl ? setInterval(() => void fetch(`${peer.metricsUrl}/metrics`).then((r) => r.text()).catch(() => undefined), 1000) : undefined;
      sides.push({ impl, vhost, sink, peer, rpc, scraper, samples: [] as number[] });
    }
    for (let round = -1; round < rounds; round++) {
      for (let i = 0; i < sides.length; i++) {
        const side = sides[(i + Math.max(round, 0)) % sides.length]!;
        // The caller traces during the traced sides' bursts only.
        const callerSdk = traced(side.impl) ? registerDiscardingSdk() : null;
        // Round -1 warms up (JIT, connections), unrecorded.
        const { elapsed } = await drive(() => side.rpc.bench_service.hello('bench'), round < 0 ? 2000 : burst, inFlight);
        await callerSdk?.shutdown();
        if (round >= 0) side.samples.push(burst / (elapsed / 1000));
      }
      if (round >= 0) process.stderr.write(`  round ${round + 1}: ${sides.map((s) => `${s.impl} ${s.samples.at(-1)!.toFixed(0)}`).join(', ')} calls/s\n`);
    }
  } finally {
    for (const side of sides) {
      if (side.scraper) clearInterval(side.scraper);
      await side.rpc.close();
      await stopPeer(side.peer);
      if (side.sink) {
        process.stderr.write(`  (${side.impl} sink: ${side.sink.posts()} OTLP posts, ${(side.sink.bytes() / 1e6).toFixed(1)} MB)\n`);
        await side.sink.close();
      }
      side.vhost.remove();
    }
  }
  const base = median(sides[0]!.samples);
  console.log(`\n| impl | in flight | median calls/s | min | max | vs enoki (tracing off) |`);
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const side of sides) {
    const m = median(side.samples);
    console.log(`| ${side.impl} | ${inFlight} | ${m.toFixed(0)} | ${Math.min(...side.samples).toFixed(0)} | ${Math.max(...side.samples).toFixed(0)} | ${(m / base).toFixed(2)}x |`);
  }
  console.log(`\n${rounds} rounds of ${burst} calls each, taking turns in rotating order. enoki-metrics: METRICS_ADDRESS set, scraped every second. enoki-otel / enoki-otlp: tracing on in caller and`);
  console.log('service, every call sampled, batch span processor; spans discarded (enoki-otel) or exported by the service as OTLP http/protobuf to a local sink (enoki-otlp).');
}

if (values['tracing-ab']) {
  await tracingAB();
  process.exit(0);
}

console.error(`bench/rpc.ts: ${CALLS} calls per level, ${ROUNDS} round(s), ${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}`);
const IMPLS = ['raw-minimal', 'raw', ...Object.keys(ENOKI_CLIENTS)].filter(wanted);
const runs: Row[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // Rotated each round, so a slow stretch of the machine does not always fall on the same row.
  const order = IMPLS.map((_, i) => IMPLS[(i + round) % IMPLS.length]!);
  for (const impl of order) {
    const client = Object.hasOwn(ENOKI_CLIENTS, impl) ? ENOKI_CLIENTS[impl] : undefined;
    runs.push(...(await measure({ impl, peer: impl, client, levels: CONCURRENCY, calls: CALLS, warmup: 2000 })));
  }
}

// The table: medians over the rounds, each figure on its own.
const results: Row[] = IMPLS.flatMap((impl) =>
  CONCURRENCY.map((inFlight) => {
    const of = runs.filter((r) => r.impl === impl && r.inFlight === inFlight);
    return { impl, inFlight, callsPerSec: median(of.map((r) => r.callsPerSec)), p50: median(of.map((r) => r.p50)), p99: median(of.map((r) => r.p99)) };
  }),
);
const byKey = new Map(results.map((r) => [`${r.impl}@${r.inFlight}`, r]));
const cpuMedian = (impl: string): string => (cpuPerCall.has(impl) ? median(cpuPerCall.get(impl)!).toFixed(0) : '-');
console.log(`\n| impl | in flight | calls/s | p50 ms | p99 ms | calls/s vs raw | calls/s vs raw-minimal | calls/s vs enoki | service CPU µs/call |`);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const raw = byKey.get(`raw@${r.inFlight}`);
  const minimal = byKey.get(`raw-minimal@${r.inFlight}`);
  const enoki = r.impl.startsWith('enoki-') ? byKey.get(`enoki@${r.inFlight}`) : undefined;
  const ratio = (base: Row | undefined): string => (base ? `${(r.callsPerSec / base.callsPerSec).toFixed(2)}x` : '-');
  console.log(
    `| ${r.impl} | ${r.inFlight} | ${r.callsPerSec.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${ratio(raw)} | ${ratio(minimal)} | ${ratio(enoki)} | ${cpuMedian(r.impl)} |`,
  );
}
console.log(`\n${ROUNDS > 1 ? `Medians of ${ROUNDS} rounds. ` : ''}raw = plain amqplib doing enoki's protocol work (persistent messages, durable reply queue, reply confirmed before ack, prefetch 128);`);
console.log('raw-minimal = plain amqplib without those guarantees (transient, exclusive reply queue, ack at once, nothing waits for a confirm): the floor.');
console.log('enoki = the defaults (max_workers 10, MAX_PENDING_REPLIES 128); enoki-mw128 = max_workers 128; enoki-metrics = METRICS_ADDRESS set, scraped every second;');
console.log('enoki-otel / enoki-otlp = OpenTelemetry tracing on in caller and service, every call sampled, batch span processor; spans discarded (enoki-otel)');
console.log('or exported by the service as OTLP http/protobuf to a local sink (enoki-otlp). bench/rpc.ts --tracing-ab compares them in alternating bursts.');
console.log('enoki-transient = DELIVERY_MODE transient + PUBLISH_CONFIRMS false (client and service): compare with raw-minimal. enoki-msgpack = SERIALIZER msgpack.');

// The inference case: both clients call the same JSON-configured service (replies follow the request's format).
const payload: Row[] = [];
const payloadWanted = !ONLY || ONLY.includes('payload');
const payloadCase = { peer: 'enoki', levels: PAYLOAD_CONCURRENCY, calls: PAYLOAD_CALLS, warmup: 20 };
if (payloadWanted) {
  payload.push(...(await measure({ ...payloadCase, impl: 'json 1 MB float array', client: {}, sum: Array.from(FLOATS) })));
  payload.push(...(await measure({ ...payloadCase, impl: 'msgpack 1 MB float array', client: { SERIALIZER: 'msgpack' }, sum: FLOATS })));
}
const jsonBytes = Buffer.byteLength(JSON.stringify({ args: [Array.from(FLOATS)], kwargs: {} }));
console.log(`\n1 MB float32 array per request (JSON body ${(jsonBytes / 1e6).toFixed(1)} MB as a number list, msgpack ${(FLOATS.byteLength / 1e6).toFixed(1)} MB + framing):\n`);
console.log('| payload | in flight | calls/s | p50 ms | p99 ms | calls/s vs json |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of payload) {
  const json = payload.find((p) => p.impl.startsWith('json') && p.inFlight === r.inFlight)!;
  console.log(`| ${r.impl} | ${r.inFlight} | ${r.callsPerSec.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${(r.callsPerSec / json.callsPerSec).toFixed(2)}x |`);
}

const resultsDir = new URL('./results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
const machine = { cpu: cpus()[0]?.model ?? 'cpu', cores: availableParallelism(), node: process.version, calls: CALLS, payloadCalls: PAYLOAD_CALLS };
if (!ONLY) writeFileSync(new URL('rpc.json', resultsDir), `${JSON.stringify({ machine: { ...machine, rounds: ROUNDS }, rows: results, runs, cpuPerCall: Object.fromEntries(cpuPerCall), payload }, null, 2)}\n`);
if (!ONLY) console.error('wrote bench/results/rpc.json');
