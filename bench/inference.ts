// Single-image classification through the real RPC path, four ways: the JS model and the
// ONNX model, each unbatched (one pool task per call) and @batched (concurrent calls
// gathered into one pool task, maxBatch 64, maxDelayMs 2), at 1, 16 and 64 calls in flight.
// Per cell: calls/s, call p50 and p99, the mean batch size the service ran, and the
// service's main-loop delay p99 (what the AMQP heartbeat would wait behind).
//
//   npx tsx bench/inference.ts [--seconds 5] [--quick] [--json] [--uri amqp://...]
//
// --quick: 1.5 s cells, for CI-sized runs. --json: one JSON line at the end whose
// `unbatched_calls_per_s` and `batched_calls_per_s` are the ONNX figures at 64 in flight.
// The service runs under `enoki run` in a child process (bench/fixtures/inference-services.ts,
// ClassifyBench) with a pool thread per core and max_workers 128, so 64 calls in flight can
// form batches of up to 64. It writes bench/results/inference.json and inference.svg.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { ClusterRpcProxy, loadConfig } from '../src/index.js';
import { startEnokiRun, stopEnokiRun, type BenchService } from './enoki-run.js';
import { percentile } from './stats.js';
import type { Classified } from './fixtures/inference-services.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    uri: { type: 'string', default: process.env.AMQP_URI ?? 'amqp://guest:guest@127.0.0.1:5672/' },
  },
});
const SECONDS = values.quick ? 1.5 : Number(values.seconds);
const URI = values.uri!;
const EXCHANGE = 'enoki-bench-classify';
const CORES = availableParallelism();
const IN_FLIGHT = [1, 16, 64];
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PREFIX = `bench_${process.pid}`;
const SERVICE = `${PREFIX}_classify`;
const RESULTS = join(ROOT, 'bench', 'results');

const METHODS = [
  { method: 'js_unbatched', model: 'JS', batched: false },
  { method: 'js_batched', model: 'JS', batched: true },
  { method: 'onnx_unbatched', model: 'ONNX', batched: false },
  { method: 'onnx_batched', model: 'ONNX', batched: true },
] as const;

const { cases } = JSON.parse(readFileSync(new URL('../services/inference/expected.json', import.meta.url), 'utf8')) as {
  cases: Array<{ input: number[]; label: number }>;
};

interface Row {
  model: string;
  batched: boolean;
  inFlight: number;
  calls: number;
  callsPerS: number;
  p50: number;
  p99: number;
  meanBatch: number;
  loopP99: number;
  wrong: number;
}

function startService(): Promise<BenchService> {
  const settings = { AMQP_URI: URI, rpc_exchange: EXCHANGE, max_workers: 128, POOL: { threads: CORES, idle_timeout: 600 }, LOGGING: { level: 'info', pretty: false } };
  return startEnokiRun(settings, 'bench/fixtures/inference-services.ts:ClassifyBench', { ENOKI_BENCH_PREFIX: PREFIX });
}

async function measure(client: Awaited<ReturnType<typeof ClusterRpcProxy.connect>>, method: string, inFlight: number): Promise<Omit<Row, 'model' | 'batched'>> {
  const service = client.service(SERVICE);
  const call = (i: number) => service[method]!(cases[i % cases.length]!.input) as Promise<Classified>;
  // Warm-up, not measured: every pool thread loads the models on its first calls.
  const warmUntil = performance.now() + 1_000;
  await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
    for (let i = w; performance.now() < warmUntil; i += inFlight) await call(i);
  }));
  await service.loop_delay!(true);
  const latencies: number[] = [];
  let batchTotal = 0;
  let wrong = 0;
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
    for (let i = w; performance.now() < until; i += inFlight) {
      const t = performance.now();
      const out = await call(i);
      latencies.push(performance.now() - t);
      batchTotal += out.batch;
      if (out.label !== cases[i % cases.length]!.label) wrong++;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  const loop = (await service.loop_delay!(true)) as { p99: number };
  return {
    inFlight,
    calls: latencies.length,
    callsPerS: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    meanBatch: batchTotal / Math.max(1, latencies.length),
    loopP99: loop.p99,
    wrong,
  };
}

const fmt = (v: number): string => (!Number.isFinite(v) ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Grouped bars: calls/s per model and batching, at each in-flight count. */
function plot(rows: Row[]): string {
  const W = 720, H = 360, left = 70, bottom = 40, top = 40;
  const max = Math.max(...rows.map((r) => r.callsPerS)) * 1.1;
  const groups = IN_FLIGHT.length, per = METHODS.length;
  const gw = (W - left - 20) / groups, bw = (gw - 30) / per;
  const colours = ['#9db8e6', '#2f5fb3', '#f2b880', '#d2691e'];
  const y = (v: number) => top + (H - top - bottom) * (1 - v / max);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${left}" y="20" font-size="14">Single-image classify: calls/s by calls in flight (${CORES} cores)</text>`);
  for (let t = 0; t <= 4; t++) {
    const v = (max / 4) * t;
    parts.push(`<line x1="${left}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${Math.round(v)}</text>`);
  }
  IN_FLIGHT.forEach((n, g) => {
    METHODS.forEach((m, k) => {
      const r = rows.find((row) => row.inFlight === n && row.model === m.model && row.batched === m.batched)!;
      const x = left + g * gw + 15 + k * bw;
      parts.push(`<rect x="${x}" y="${y(r.callsPerS)}" width="${bw - 4}" height="${H - bottom - y(r.callsPerS)}" fill="${colours[k]}"/>`);
    });
    parts.push(`<text x="${left + g * gw + gw / 2}" y="${H - bottom + 18}" text-anchor="middle">${n} in flight</text>`);
  });
  METHODS.forEach((m, k) => {
    parts.push(`<rect x="${left + 10 + k * 150}" y="${H - 14}" width="10" height="10" fill="${colours[k]}"/><text x="${left + 24 + k * 150}" y="${H - 5}">${m.model} ${m.batched ? '@batched' : 'unbatched'}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const service = await startService();
  const rows: Row[] = [];
  try {
    const config = loadConfig({ AMQP_URI: URI, rpc_exchange: EXCHANGE, LOGGING: { level: 'warn' } });
    await using client = await ClusterRpcProxy.connect(config, { timeoutMs: 60_000 });
    for (const n of IN_FLIGHT) {
      for (const m of METHODS) {
        const row = { model: m.model, batched: m.batched, ...(await measure(client, m.method, n)) };
        rows.push(row);
        if (!values.json) console.log(`  ${m.method.padEnd(15)} ${String(n).padStart(2)} in flight: ${fmt(row.callsPerS)} calls/s, p50 ${fmt(row.p50)} ms, p99 ${fmt(row.p99)} ms, batch ${fmt(row.meanBatch)}, loop p99 ${fmt(row.loopP99)} ms`);
      }
    }
  } finally {
    await stopEnokiRun(service);
    const connection = await amqp.connect(URI);
    const channel = await connection.createChannel();
    await channel.deleteQueue(`rpc-${SERVICE}`);
    await connection.close();
  }
  const wrong = rows.reduce((a, r) => a + r.wrong, 0);
  const at = (model: string, batched: boolean, n: number) => rows.find((r) => r.model === model && r.batched === batched && r.inFlight === n)!;
  const summary = {
    seconds_per_cell: SECONDS,
    cores: CORES,
    unbatched_calls_per_s: Math.round(at('ONNX', false, 64).callsPerS),
    batched_calls_per_s: Math.round(at('ONNX', true, 64).callsPerS),
    speedup_at_64: Number((at('ONNX', true, 64).callsPerS / at('ONNX', false, 64).callsPerS).toFixed(2)),
    batched_p99_ms_at_16: Number(at('ONNX', true, 16).p99.toFixed(2)),
    wrong_answers: wrong,
  };
  if (!values.quick) {
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'inference.json'), `${JSON.stringify({ summary, rows }, null, 2)}\n`);
    writeFileSync(join(RESULTS, 'inference.svg'), plot(rows));
  }
  if (values.json) {
    console.log(JSON.stringify(summary));
    return;
  }
  console.log(
    `\nclassify bench: ${SECONDS} s per cell; service: ${CORES} pool threads, max_workers 128, maxBatch 64, maxDelayMs 2` +
      `\nmachine: ${CORES} cores, ${cpus()[0]?.model ?? '?'}, node ${process.version}; load average ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after\n`,
  );
  console.log('| model | batching | in flight | calls/s | p50 ms | p99 ms | mean batch | main-loop p99 ms |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.model} | ${r.batched ? '@batched' : 'none'} | ${r.inFlight} | ${fmt(r.callsPerS)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.meanBatch)} | ${fmt(r.loopP99)} |`);
  }
  console.log(`\nONNX at 64 in flight: ${summary.batched_calls_per_s} calls/s batched vs ${summary.unbatched_calls_per_s} unbatched (${summary.speedup_at_64}x); batched p99 at 16 in flight ${summary.batched_p99_ms_at_16} ms; ${wrong} wrong answers`);
}

await main();
process.exit(0);
