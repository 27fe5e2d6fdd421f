// Soak: RPC calls at a fixed number in flight for a long time (default 128 for 10 minutes),
// against a service started with `enoki run` as users start it. Every second it samples the
// service's RSS, heap used and event-loop delay (through the service's own `stats` call), the
// client's heap, and calls/s. After the warm-up it compares the first and the last minute:
// the heap must not grow by more than 10% and calls/s must not fall.
//
//   npx tsx bench/soak.ts [--minutes 10] [--in-flight 128] [--warmup 60] [--uri amqp://guest:guest@127.0.0.1:5672]
//
// Writes bench/results/soak.json (every sample) and bench/results/soak.svg.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { ClusterRpcProxy, loadConfig } from 'enoki';
import { startEnokiRun, stopEnokiRun } from './enoki-run.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'in-flight': { type: 'string', default: '128' },
    warmup: { type: 'string', default: '60' },
    uri: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
  },
});
const SECONDS = Math.round(Number(values.minutes) * 60);
const IN_FLIGHT = Number(values['in-flight']);
const WARMUP_S = Math.min(Number(values.warmup), Math.floor(SECONDS / 3));
/** The windows compared: the first and the last this many seconds after the warm-up. */
const WINDOW_S = Math.max(10, Math.min(60, Math.floor((SECONDS - WARMUP_S) / 3)));
const RESULTS = new URL('results/', import.meta.url);

interface Sample {
  t: number;
  callsPerSec: number;
  rssMb: number;
  heapMb: number;
  loopP99Ms: number;
  loopMaxMs: number;
  clientHeapMb: number;
}

// Its own vhost, so no other queue named rpc-soak_service takes our requests.
const vhost = `enoki-bench-soak-${process.pid}`;
const ctl = (...args: string[]): void => void execFileSync('rabbitmqctl', args, { stdio: 'ignore' });
ctl('add_vhost', vhost);
ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
const uri = `${values.uri}/${encodeURIComponent(vhost)}`;

const mb = (bytes: number): number => bytes / 2 ** 20;

const service = await startEnokiRun({ AMQP_URI: uri, LOGGING: { level: 'info' } }, 'bench/soak-service.ts:SoakService');
const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: uri, LOGGING: { level: 'warn' } }), { timeoutMs: 60_000 });
const samples: Sample[] = [];
let done = 0;
let failed = 0;
let stop = false;
console.error(`bench/soak.ts: ${IN_FLIGHT} in flight for ${SECONDS} s (warm-up ${WARMUP_S} s, windows of ${WINDOW_S} s), ${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}`);
try {
  const workers = Array.from({ length: IN_FLIGHT }, async () => {
    while (!stop) {
      try {
        await client.soak_service.hello('soak');
        done++;
      } catch {
        failed++;
      }
    }
  });
  const started = Date.now();
  let lastDone = 0;
  let lastAt = started;
  for (let t = 1; t <= SECONDS; t++) {
    await new Promise((resolve) => setTimeout(resolve, started + t * 1000 - Date.now()));
    const now = Date.now();
    const calls = done - lastDone;
    const callsPerSec = calls / ((now - lastAt) / 1000);
    lastDone = done;
    lastAt = now;
    const s = (await client.soak_service.stats()) as { rss: number; heapUsed: number; loopP99Ms: number; loopMaxMs: number };
    samples.push({ t, callsPerSec, rssMb: mb(s.rss), heapMb: mb(s.heapUsed), loopP99Ms: s.loopP99Ms, loopMaxMs: s.loopMaxMs, clientHeapMb: mb(process.memoryUsage().heapUsed) });
    if (t % 30 === 0) console.error(`  ${t} s: ${callsPerSec.toFixed(0)} calls/s, service heap ${mb(s.heapUsed).toFixed(1)} MB, rss ${mb(s.rss).toFixed(0)} MB`);
  }
  stop = true;
  await Promise.all(workers);
} finally {
  await client.close();
  await stopEnokiRun(service);
  ctl('delete_vhost', vhost);
}

// Heap: the lowest of a window (the heap right after a collection), not its noise between.
const after = samples.filter((s) => s.t > WARMUP_S);
const first = after.slice(0, WINDOW_S);
const last = after.slice(-WINDOW_S);
const summary = {
  seconds: SECONDS,
  inFlight: IN_FLIGHT,
  warmupS: WARMUP_S,
  windowS: WINDOW_S,
  calls: done,
  failed,
  callsPerSecFirst: median(first.map((s) => s.callsPerSec)),
  callsPerSecLast: median(last.map((s) => s.callsPerSec)),
  heapMbFirst: Math.min(...first.map((s) => s.heapMb)),
  heapMbLast: Math.min(...last.map((s) => s.heapMb)),
  rssMbFirst: median(first.map((s) => s.rssMb)),
  rssMbLast: median(last.map((s) => s.rssMb)),
  clientHeapMbFirst: Math.min(...first.map((s) => s.clientHeapMb)),
  clientHeapMbLast: Math.min(...last.map((s) => s.clientHeapMb)),
  loopP99MsMedian: median(after.map((s) => s.loopP99Ms)),
  loopMaxMs: Math.max(...after.map((s) => s.loopMaxMs)),
  machine: `${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}`,
};
const heapGrowth = summary.heapMbLast / summary.heapMbFirst - 1;
const rate = summary.callsPerSecLast / summary.callsPerSecFirst;
const verdict = { heapGrowth, heapHolds: heapGrowth <= 0.1, callsPerSecRatio: rate, callsPerSecHolds: rate >= 0.95 && failed === 0 };

mkdirSync(RESULTS, { recursive: true });
writeFileSync(new URL('soak.json', RESULTS), JSON.stringify({ summary, verdict, samples }, null, 1) + '\n');
writeFileSync(new URL('soak.svg', RESULTS), plot(samples));

const f = (v: number, d = 1): string => v.toFixed(d);
console.log(`\n| ${IN_FLIGHT} in flight, ${SECONDS} s | first ${WINDOW_S} s after warm-up | last ${WINDOW_S} s | change |`);
console.log('|---|---:|---:|---:|');
console.log(`| calls/s (median) | ${f(summary.callsPerSecFirst, 0)} | ${f(summary.callsPerSecLast, 0)} | ${f((rate - 1) * 100)}% |`);
console.log(`| service heap used after GC (MB) | ${f(summary.heapMbFirst)} | ${f(summary.heapMbLast)} | ${f(heapGrowth * 100)}% |`);
console.log(`| service RSS (MB, median) | ${f(summary.rssMbFirst)} | ${f(summary.rssMbLast)} | ${f((summary.rssMbLast / summary.rssMbFirst - 1) * 100)}% |`);
console.log(`| client heap used after GC (MB) | ${f(summary.clientHeapMbFirst)} | ${f(summary.clientHeapMbLast)} | ${f((summary.clientHeapMbLast / summary.clientHeapMbFirst - 1) * 100)}% |`);
console.log(`\n${done} calls, ${failed} failed; service event-loop delay p99 ${f(summary.loopP99MsMedian)} ms (median of 1-s samples), max ${f(summary.loopMaxMs)} ms.`);
console.log(`heap growth ${f(heapGrowth * 100)}% (limit 10%): ${verdict.heapHolds ? 'holds' : 'FAILS'}; calls/s last/first ${f(rate, 3)} (must not fall): ${verdict.callsPerSecHolds ? 'holds' : 'FAILS'}`);
console.log('wrote bench/results/soak.json and bench/results/soak.svg');

/** Two panels over time: calls/s, and the service's heap and RSS. */
function plot(rows: Sample[]): string {
  const W = 760, H = 420, left = 60, right = 20, panel = 150, gap = 50, top = 40;
  const tMax = rows.length ? rows[rows.length - 1]!.t : 1;
  const x = (t: number): number => left + ((W - left - right) * t) / tMax;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="#fff"/>`];
  parts.push(`<text x="${left}" y="20" font-size="14">Soak: ${IN_FLIGHT} in flight for ${SECONDS} s (warm-up ${WARMUP_S} s shaded)</text>`);
  const series = (y0: number, max: number, values: number[], colour: string): string =>
    `<polyline fill="none" stroke="${colour}" stroke-width="1.2" points="${rows.map((r, i) => `${x(r.t).toFixed(1)},${(y0 + panel * (1 - values[i]! / max)).toFixed(1)}`).join(' ')}"/>`;
  const axis = (y0: number, max: number, label: string): void => {
    parts.push(`<rect x="${left}" y="${y0}" width="${x(WARMUP_S) - left}" height="${panel}" fill="#f3f3f3"/>`);
    for (let k = 0; k <= 4; k++) {
      const v = (max / 4) * k, y = y0 + panel * (1 - k / 4);
      parts.push(`<line x1="${left}" x2="${W - right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/><text x="${left - 6}" y="${y + 4}" text-anchor="end">${Math.round(v)}</text>`);
    }
    parts.push(`<text x="${left}" y="${y0 - 6}">${label}</text>`);
  };
  const y1 = top + 10, y2 = y1 + panel + gap;
  const maxRate = Math.max(1, ...rows.map((r) => r.callsPerSec)) * 1.1;
  axis(y1, maxRate, 'calls/s');
  parts.push(series(y1, maxRate, rows.map((r) => r.callsPerSec), '#2f5fb3'));
  const maxMb = Math.max(1, ...rows.map((r) => r.rssMb)) * 1.1;
  axis(y2, maxMb, 'service MB: RSS (orange), heap used (green)');
  parts.push(series(y2, maxMb, rows.map((r) => r.rssMb), '#d2691e'));
  parts.push(series(y2, maxMb, rows.map((r) => r.heapMb), '#2e8b57'));
  parts.push(`<text x="${(W + left) / 2}" y="${H - 8}" text-anchor="middle">seconds</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
