// RPC throughput and latency of `hello` through ClusterRpcProxy, beside a raw-amqplib
// request/reply on the same broker in the same run. Caller and service are separate
// processes. Every connection has noDelay (Nagle off), or the comparison means nothing.
// enoki runs three ways: defaults (persistent, confirmed, JSON), DELIVERY_MODE transient
// with PUBLISH_CONFIRMS false (to compare with raw-minimal), and SERIALIZER msgpack. Then
// the inference case: a 1 MB float array per request (262144 float32), JSON (a number
// list) against msgpack (the Float32Array's bytes).
// Prints markdown tables and writes bench/results/rpc.json (not with --only).
// Two runs at once on one broker need different vhosts (--uri amqp://.../<vhost>): the
// service queue is always 'rpc-bench_service', and each run's peer would take the other's calls.
// enoki-metrics is enoki with METRICS_ADDRESS set, its /metrics scraped once a second from
// here (as Prometheus would, from outside); with --rounds N, enoki and enoki-metrics run N
// times each, alternately, and the "metrics cost" tables compare their means: calls/s, and
// the service's CPU time per call (steadier than calls/s on a busy machine).
//
//   npx tsx bench/rpc.ts [--calls 20000] [--payload-calls 300] [--only enoki,enoki-metrics] [--rounds 3] [--uri amqp://guest:guest@127.0.0.1:5672]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { ClusterRpcProxy, loadConfig } from 'enoki';

const { values } = parseArgs({
  options: { calls: { type: 'string', default: '20000' }, 'payload-calls': { type: 'string', default: '300' }, only: { type: 'string' }, rounds: { type: 'string', default: '1' }, uri: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' } },
});
const CALLS = Number(values.calls);
const PAYLOAD_CALLS = Number(values['payload-calls']);
/** --only enoki,enoki-msgpack: just those rows (quick comparisons; the ratio columns need raw and raw-minimal). */
const ONLY = values.only?.split(',');
const wanted = (impl: string): boolean => !ONLY || ONLY.includes(impl);
const PAYLOAD_CONCURRENCY = [1, 8];
/** 1 MB of float32: the inference case. */
const FLOATS = Float32Array.from({ length: 262_144 }, (_, i) => Math.sin(i));
const URI = values.uri!;
const CONCURRENCY = [1, 16, 128];
const PREFETCH = 128;

interface Row { impl: string; inFlight: number; callsPerSec: number; p50: number; p99: number }

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The service process's CPU time per call served, in µs, per run of an impl. */
const cpuPerCall: Array<{ impl: string; us: number }> = [];

async function startPeer(mode: string, exchange: string): Promise<{ child: ChildProcess; metricsUrl?: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/rpc-peer.ts', mode, URI, exchange, String(PREFETCH)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let metricsUrl: string | undefined;
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const text = d.toString();
      metricsUrl ??= /metrics (\S+)/.exec(text)?.[1];
      if (text.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${mode} peer exited with ${code}`)));
  });
  return { child, metricsUrl };
}

/** Stop the peer; resolves with the CPU time (µs) it reports having used since it was ready. */
async function stopPeer(child: ChildProcess): Promise<number | undefined> {
  let cpu: number | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    const match = /cpu (\d+)/.exec(d.toString());
    if (match) cpu = Number(match[1]);
  });
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return cpu;
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
  'enoki-transient': { DELIVERY_MODE: 'transient', PUBLISH_CONFIRMS: false },
  'enoki-msgpack': { SERIALIZER: 'msgpack' },
  'enoki-metrics': {},
};

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
  const { child: peer, metricsUrl } = await startPeer(c.peer, exchange);
  // Scraped once a second from here, a busy Prometheus's rate (15 s is usual).
  const scraper = metricsUrl ? setInterval(() => void fetch(`${metricsUrl}/metrics`).then((r) => r.text()), 1000) : undefined;
  let client: { call: () => Promise<unknown>; close: () => Promise<void> };
  if (c.client) {
    const rpc = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: URI, rpc_exchange: exchange, LOGGING: { level: 'warn' }, ...c.client }));
    const call = c.sum === undefined ? () => rpc.bench_service.hello('bench') : () => rpc.bench_service.sum(c.sum);
    client = { call, close: () => rpc.close() };
  } else {
    client = await rawCaller(exchange, impl === 'raw');
  }
  const rows: Row[] = [];
  let served = c.warmup;
  try {
    await drive(client.call, c.warmup, Math.min(16, c.warmup)); // warm-up: JIT, connections, queue creation
    for (const inFlight of c.levels) {
      const total = inFlight === 1 ? Math.min(c.calls, 5000) : c.calls;
      const { elapsed, latencies } = await drive(client.call, total, inFlight);
      served += total;
      rows.push({ impl, inFlight, callsPerSec: total / (elapsed / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
      process.stderr.write(`  ${impl} at ${inFlight} in flight: ${(total / (elapsed / 1000)).toFixed(0)} calls/s\n`);
    }
  } finally {
    clearInterval(scraper);
    await client.close();
    const cpu = await stopPeer(peer);
    if (cpu !== undefined) cpuPerCall.push({ impl, us: cpu / served });
    const conn = await amqp.connect(URI);
    const ch = await conn.createChannel();
    await ch.deleteQueue('rpc-bench_service');
    await ch.deleteExchange(exchange);
    await conn.close();
  }
  return rows;
}

console.error(`bench/rpc.ts: ${CALLS} calls per level, ${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}`);
const results: Row[] = [];
for (const impl of ['raw-minimal', 'raw'].filter(wanted)) results.push(...(await measure({ impl, peer: impl, levels: CONCURRENCY, calls: CALLS, warmup: 2000 })));
const enokiImpls = (ONLY ?? Object.keys(ENOKI_CLIENTS)).filter((impl) => Object.hasOwn(ENOKI_CLIENTS, impl));
const ROUNDS = Number(values.rounds);
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order each round (ABBA), so neither side always runs on a warmer broker.
  const order = round % 2 === 0 ? enokiImpls : [...enokiImpls].reverse();
  for (const impl of order) results.push(...(await measure({ impl, peer: impl, client: ENOKI_CLIENTS[impl], levels: CONCURRENCY, calls: CALLS, warmup: 2000 })));
}

const byKey = new Map(results.map((r) => [`${r.impl}@${r.inFlight}`, r]));
console.log('\n| impl | in flight | calls/s | p50 ms | p99 ms | calls/s vs raw | calls/s vs raw-minimal | p50 - raw p50 (ms) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const raw = byKey.get(`raw@${r.inFlight}`);
  const minimal = byKey.get(`raw-minimal@${r.inFlight}`);
  const ratio = (base: Row | undefined): string => (base ? `${(r.callsPerSec / base.callsPerSec).toFixed(2)}x` : '-');
  console.log(
    `| ${r.impl} | ${r.inFlight} | ${r.callsPerSec.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${ratio(raw)} | ${ratio(minimal)} | ${raw ? (r.p50 - raw.p50).toFixed(3) : '-'} |`,
  );
}
console.log(`\nraw = plain amqplib doing enoki's protocol work (persistent messages, durable reply queue, reply confirmed before ack);`);
console.log('raw-minimal = plain amqplib without those guarantees (transient, exclusive reply queue, ack at once, nothing waits for a confirm): the floor.');
console.log('enoki-transient = DELIVERY_MODE transient + PUBLISH_CONFIRMS false (client and service): compare with raw-minimal. enoki-msgpack = SERIALIZER msgpack.');
console.log('enoki-metrics = enoki with METRICS_ADDRESS set and /metrics scraped once a second.');

// What metrics cost: enoki with METRICS_ADDRESS against enoki without, means over --rounds.
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const rowsOf = (impl: string, inFlight: number): Row[] => results.filter((r) => r.impl === impl && r.inFlight === inFlight);
if (rowsOf('enoki', CONCURRENCY[0]!).length > 0 && rowsOf('enoki-metrics', CONCURRENCY[0]!).length > 0) {
  console.log(`\n| metrics cost (mean of ${ROUNDS} run${ROUNDS > 1 ? 's' : ''} each) | in flight | calls/s off | calls/s on | on / off | p50 ms off | p50 ms on |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const inFlight of CONCURRENCY) {
    const [off, on] = [rowsOf('enoki', inFlight), rowsOf('enoki-metrics', inFlight)];
    const [a, b] = [mean(off.map((r) => r.callsPerSec)), mean(on.map((r) => r.callsPerSec))];
    console.log(`| enoki-metrics vs enoki | ${inFlight} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(3)} | ${mean(off.map((r) => r.p50)).toFixed(3)} | ${mean(on.map((r) => r.p50)).toFixed(3)} |`);
  }
  const cpu = (impl: string): number[] => cpuPerCall.filter((c) => c.impl === impl).map((c) => c.us);
  const [off, on] = [cpu('enoki'), cpu('enoki-metrics')];
  if (off.length > 0 && on.length > 0) {
    console.log('\n| service CPU per call | off (µs) | on (µs) | on / off | runs off / on |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(`| enoki-metrics vs enoki | ${mean(off).toFixed(1)} | ${mean(on).toFixed(1)} | ${(mean(on) / mean(off)).toFixed(3)} | ${off.map((x) => x.toFixed(0)).join(' ')} / ${on.map((x) => x.toFixed(0)).join(' ')} |`);
  }
}

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
if (!ONLY) writeFileSync(new URL('rpc.json', resultsDir), `${JSON.stringify({ machine, rows: results, payload }, null, 2)}\n`);
if (!ONLY) console.error('wrote bench/results/rpc.json');
