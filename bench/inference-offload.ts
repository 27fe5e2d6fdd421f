// The example model through the real RPC path: predictions per second and call latency
// for batches of 1, 32 and 256 images, served inline on the event loop, by @cpuBound with
// one pool thread, and by @cpuBound with a thread per core; and, the point of it, the
// latency of a cheap `hello` on the same service while predictions run.
//
//   npx tsx bench/inference-offload.ts [--seconds 10] [--concurrency 4] [--uri amqp://...]
//
// 9 cells of --seconds each (default: about 2 minutes in all). The service runs under
// `enoki run` in a child process (bench/fixtures/inference-services.ts), one child per
// mode, so only one mode uses the CPU at a time; the callers and the pinger run here,
// with RabbitMQ in between. Per cell, --concurrency predict calls are kept in flight
// and a second connection pings `hello` every 50 ms.
//
// On a 2-core machine the bench process shares the cores with the service: its JSON
// encoding of a 256-image batch (~0.6 MB) is part of every number, as in production
// with a caller on the same host. The load average is printed: above the core count,
// something else is using the machine and every number is inflated.

import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { ClusterRpcProxy, loadConfig } from '../src/index.js';
import { startEnokiRun, stopEnokiRun, type BenchService } from './enoki-run.js';
import { percentile } from './stats.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '4' },
    uri: { type: 'string', default: process.env.AMQP_URI ?? 'amqp://guest:guest@127.0.0.1:5672/' },
  },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const URI = values.uri!;
const EXCHANGE = 'enoki-bench-inference';
const CORES = availableParallelism();
const BATCHES = [1, 32, 256];
const PING_EVERY_MS = 50;
const PREFIX = `bench_${process.pid}`;

const MODES = [
  { mode: 'inline', exportName: 'InlineInference', threads: 1 },
  { mode: '@cpuBound, 1 thread', exportName: 'PooledInference', threads: 1 },
  { mode: `@cpuBound, ${CORES} threads`, exportName: 'PooledInference', threads: CORES },
] as const;

const { cases } = JSON.parse(readFileSync(new URL('../services/inference/expected.json', import.meta.url), 'utf8')) as {
  cases: Array<{ input: number[]; label: number }>;
};
const batchOf = (n: number): number[][] => Array.from({ length: n }, (_, i) => cases[i % cases.length]!.input);

interface Row {
  mode: string;
  batch: number;
  calls: number;
  predictionsPerS: number;
  p50: number;
  p99: number;
  pingP50: number;
  pingP99: number;
  pingsFailed: number;
  pings: number;
}

/** `enoki run` of one mode's class, until it logs that it is running. */
function startService(exportName: string, threads: number): Promise<BenchService> {
  // max_workers above the callers, so the service never holds a call back.
  const settings = { AMQP_URI: URI, rpc_exchange: EXCHANGE, max_workers: 16, POOL: { threads, idle_timeout: 600 }, LOGGING: { level: 'info', pretty: false } };
  return startEnokiRun(settings, `bench/fixtures/inference-services.ts:${exportName}`, { ENOKI_BENCH_PREFIX: PREFIX });
}

async function measureCell(mode: string, serviceName: string, batchSize: number): Promise<Row> {
  const config = loadConfig({ AMQP_URI: URI, rpc_exchange: EXCHANGE, LOGGING: { level: 'warn' } });
  await using caller = await ClusterRpcProxy.connect(config, { timeoutMs: 120_000 });
  await using pinger = await ClusterRpcProxy.connect(config, { timeoutMs: 5_000 });
  const service = caller.service(serviceName);
  const batch = batchOf(batchSize);

  // Warm-up, not measured: every pool thread loads the model on its first call.
  const warmUntil = performance.now() + 1_500;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < warmUntil) await service.predict(batch);
    }),
  );

  const latencies: number[] = [];
  const pings: number[] = [];
  let pingsFailed = 0;
  const inFlightPings = new Set<Promise<void>>();
  const pinging = setInterval(() => {
    const t = performance.now();
    const p = (pinger.service(serviceName).hello() as Promise<unknown>).then(
      () => void pings.push(performance.now() - t),
      () => void pingsFailed++,
    );
    inFlightPings.add(p);
    void p.finally(() => inFlightPings.delete(p));
  }, PING_EVERY_MS);

  const started = performance.now();
  const until = started + SECONDS * 1000;
  let calls = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        const out = (await service.predict(batch)) as { labels: number[] };
        latencies.push(performance.now() - t);
        if (out.labels.length !== batchSize) throw new Error(`asked for ${batchSize} predictions, got ${out.labels.length}`);
        calls++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(pinging);
  await Promise.allSettled([...inFlightPings]);
  return {
    mode,
    batch: batchSize,
    calls,
    predictionsPerS: (calls * batchSize) / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    pingP50: percentile(pings, 50),
    pingP99: percentile(pings, 99),
    pingsFailed,
    pings: pings.length + pingsFailed,
  };
}

const fmt = (v: number): string => (!Number.isFinite(v) ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const rows: Row[] = [];
  const queues: string[] = [];
  for (const { mode, exportName, threads } of MODES) {
    const serviceName = `${PREFIX}_inference_${exportName === 'InlineInference' ? 'inline' : 'pool'}`;
    queues.push(serviceName);
    console.log(`== ${mode}`);
    const service = await startService(exportName, threads);
    try {
      for (const batch of BATCHES) {
        const row = await measureCell(mode, serviceName, batch);
        rows.push(row);
        console.log(
          `  batch ${String(batch).padStart(3)}: ${fmt(row.predictionsPerS)} predictions/s, p99 ${fmt(row.p99)} ms; ` +
            `hello p50 ${fmt(row.pingP50)} ms, p99 ${fmt(row.pingP99)} ms${row.pingsFailed ? `, ${row.pingsFailed} pings failed` : ''}`,
        );
      }
    } finally {
      const code = await stopEnokiRun(service);
      if (code !== 0) console.log(`  enoki run exited ${code} on SIGTERM`);
    }
  }
  const connection = await amqp.connect(URI);
  const channel = await connection.createChannel();
  for (const name of new Set(queues)) await channel.deleteQueue(`rpc-${name}`);
  await connection.close();

  console.log(
    `\ninference bench: ${SECONDS} s per cell, ${CONCURRENCY} predict calls in flight, hello every ${PING_EVERY_MS} ms on a second connection` +
      `\nmachine: ${CORES} cores, ${cpus()[0]?.model ?? '?'}, node ${process.version}; load average ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after\n`,
  );
  console.log('| mode | batch | predictions/s | call p50 ms | call p99 ms | hello p50 ms | hello p99 ms | hello failed |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.mode} | ${r.batch} | ${fmt(r.predictionsPerS)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.pingP50)} | ${fmt(r.pingP99)} | ${r.pingsFailed} / ${r.pings} |`);
  }
}

await main();
process.exit(0);
