// RPC throughput and latency of `hello` through ClusterRpcProxy, beside a raw-amqplib
// request/reply on the same broker in the same run. Caller and service are separate
// processes. Every connection has noDelay (Nagle off), or the comparison means nothing.
//
// `enoki-metrics` is the same enoki service with METRICS_ADDRESS set and scraped once a
// second; its row against `enoki` (run back to back, same process, same broker) is what
// metrics cost. `--impls enoki,enoki-metrics` runs only those.
//
//   npx tsx bench/rpc.ts [--calls 20000] [--uri amqp://guest:guest@127.0.0.1:5672] [--impls raw-minimal,raw,enoki,enoki-metrics]

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { ClusterRpcProxy, loadConfig } from 'enoki';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    uri: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    impls: { type: 'string', default: 'raw-minimal,raw,enoki,enoki-metrics' },
  },
});
const CALLS = Number(values.calls);
const URI = values.uri!;
const CONCURRENCY = [1, 16, 128];
const PREFETCH = 128;

interface Row { impl: string; inFlight: number; callsPerSec: number; p50: number; p99: number }
/** The service process's CPU time per call served, in µs, per run of an impl. */
const cpuPerCall: Array<{ impl: string; us: number }> = [];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

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

async function measure(impl: string): Promise<Row[]> {
  const exchange = `bench-rpc-${randomUUID().slice(0, 8)}`;
  const { child: peer, metricsUrl } = await startPeer(impl, exchange);
  // Scraped once a second from here, a busy Prometheus's rate (15 s is usual).
  const scraper = metricsUrl ? setInterval(() => void fetch(`${metricsUrl}/metrics`).then((r) => r.text()), 1000) : undefined;
  let client: { call: () => Promise<unknown>; close: () => Promise<void> };
  if (impl.startsWith('enoki')) {
    const rpc = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: URI, rpc_exchange: exchange, LOGGING: { level: 'warn' } }));
    client = { call: () => rpc.bench_service.hello('bench'), close: () => rpc.close() };
  } else {
    client = await rawCaller(exchange, impl === 'raw');
  }
  const rows: Row[] = [];
  let served = 0;
  try {
    await drive(client.call, 2000, 16); // warm-up: JIT, connections, queue creation
    served += 2000;
    for (const inFlight of CONCURRENCY) {
      const total = inFlight === 1 ? Math.min(CALLS, 5000) : CALLS;
      const { elapsed, latencies } = await drive(client.call, total, inFlight);
      served += total;
      rows.push({ impl, inFlight, callsPerSec: total / (elapsed / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
      process.stderr.write(`  ${impl} at ${inFlight} in flight: ${(total / (elapsed / 1000)).toFixed(0)} calls/s\n`);
    }
  } finally {
    clearInterval(scraper);
    await client.close();
    const cpu = await stopPeer(peer);
    if (cpu !== undefined && served > 0) cpuPerCall.push({ impl, us: cpu / served });
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
for (const impl of values.impls!.split(',')) results.push(...(await measure(impl)));

const byKey = new Map(results.map((r) => [`${r.impl}@${r.inFlight}`, r]));
console.log('\n| impl | in flight | calls/s | p50 ms | p99 ms | calls/s vs raw | p50 - raw p50 (ms) |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const raw = byKey.get(`raw@${r.inFlight}`);
  const vsRaw = raw ? `${(r.callsPerSec / raw.callsPerSec).toFixed(2)}x` : '-';
  const p50VsRaw = raw ? (r.p50 - raw.p50).toFixed(3) : '-';
  console.log(`| ${r.impl} | ${r.inFlight} | ${r.callsPerSec.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${vsRaw} | ${p50VsRaw} |`);
}
// What metrics cost: enoki with METRICS_ADDRESS (scraped every second) against enoki without.
// Repeat both in --impls (enoki,enoki-metrics,enoki-metrics,enoki) to average out a busy machine.
const mean = (impl: string, inFlight: number, pick: (r: Row) => number): number | undefined => {
  const rows = results.filter((r) => r.impl === impl && r.inFlight === inFlight);
  return rows.length === 0 ? undefined : rows.reduce((sum, r) => sum + pick(r), 0) / rows.length;
};
if (results.some((r) => r.impl === 'enoki-metrics') && results.some((r) => r.impl === 'enoki')) {
  const runs = results.filter((r) => r.impl === 'enoki' && r.inFlight === CONCURRENCY[0]).length;
  console.log(`\n| metrics cost (mean of ${runs} run${runs > 1 ? 's' : ''} each) | in flight | calls/s off | calls/s on | on / off | p50 ms off | p50 ms on |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const inFlight of CONCURRENCY) {
    const off = mean('enoki', inFlight, (r) => r.callsPerSec)!;
    const on = mean('enoki-metrics', inFlight, (r) => r.callsPerSec)!;
    const p50Off = mean('enoki', inFlight, (r) => r.p50)!;
    const p50On = mean('enoki-metrics', inFlight, (r) => r.p50)!;
    console.log(`| enoki-metrics vs enoki | ${inFlight} | ${off.toFixed(0)} | ${on.toFixed(0)} | ${(on / off).toFixed(3)} | ${p50Off.toFixed(3)} | ${p50On.toFixed(3)} |`);
  }
  // CPU per call is what metrics add to the service; unlike calls/s it holds on a busy machine.
  const cpu = (impl: string): number[] => cpuPerCall.filter((c) => c.impl === impl).map((c) => c.us);
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [off, on] = [cpu('enoki'), cpu('enoki-metrics')];
  if (off.length > 0 && on.length > 0) {
    console.log('\n| service CPU per call | off (µs) | on (µs) | on / off | runs |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(`| enoki-metrics vs enoki | ${avg(off).toFixed(1)} | ${avg(on).toFixed(1)} | ${(avg(on) / avg(off)).toFixed(3)} | ${off.map((x) => x.toFixed(0)).join(' ')} / ${on.map((x) => x.toFixed(0)).join(' ')} |`);
  }
}
console.log(`\nraw = plain amqplib doing enoki's protocol work (persistent messages, durable reply queue, reply confirmed before ack);`);
console.log('raw-minimal = plain amqplib without those guarantees (transient, exclusive reply queue, ack at once): the floor.');
console.log('enoki-metrics = enoki with METRICS_ADDRESS set and /metrics scraped once a second.');
