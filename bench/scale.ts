// Competing instances: 1, 2 and 4 instances of one service (separate processes, each a
// ServiceRunner as `enoki run` makes: bench/scale-peer.ts) consuming one queue,
// `rpc-scale_service`. For each count, the calls/s
// of three methods at a fixed number of calls in flight from one caller (this process):
//
//   trivial   returns at once: what the broker and the AMQP round trip allow
//   inline    5 ms of CPU on the service's event loop (--work-ms)
//   pooled    the same 5 ms, @cpuBound (a pool thread; POOL.threads defaults to the cores)
//
// Besides calls/s it samples, from /proc, the CPU time of the service processes, of the
// broker (beam.smp: shared with anything else using it), of this caller, and of the whole
// machine, so the table says which of them binds: a machine at ~100% busy is bound by its
// cores, whoever spends them. Each method returns its process id, so the spread of calls
// over the instances is counted too (min and max share).
//
// It runs enoki from dist/, built first, as users get it (as bench/rpc.ts does), and each
// instance count gets a vhost of its own, made and removed with rabbitmqctl.
//
//   npx tsx bench/scale.ts [--quick] [--instances 1,2,4] [--seconds 10] [--warmup 3]
//                          [--in-flight 64] [--work-ms 5] [--uri amqp://guest:guest@127.0.0.1:5672]
//
// --quick: 3 s per measurement after 1 s of warm-up (checks that it works, not numbers).
// Prints a markdown table and writes bench/results/scale.json and bench/results/scale.svg.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { runFromDist } from './run-from-dist.js';
import { ClusterRpcProxy, loadConfig, type ClusterClient } from 'enoki';

// enoki as users run it: the compiled dist/ (see bench/rpc.ts); the children inherit this.
runFromDist();

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    instances: { type: 'string', default: '1,2,4' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    'in-flight': { type: 'string', default: '64' },
    'work-ms': { type: 'string', default: '5' },
    uri: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
  },
});
const COUNTS = values.instances.split(',').map(Number);
const SECONDS = Number(values.seconds ?? (values.quick ? 3 : 10));
const WARMUP_S = Number(values.warmup ?? (values.quick ? 1 : 3));
const IN_FLIGHT = Number(values['in-flight']);
const WORK_MS = Number(values['work-ms']);
const METHODS = ['trivial', 'inline', 'pooled'] as const;
type Method = (typeof METHODS)[number];
const RESULTS = new URL('results/', import.meta.url);
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const ctl = (...args: string[]): void => void execFileSync('rabbitmqctl', args, { stdio: 'ignore' });

interface Row {
  instances: number;
  method: Method;
  callsPerSec: number;
  failed: number;
  /** CPU of all service processes together, in cores (1 = one core busy all the time). */
  servicesCores: number;
  brokerCores: number;
  callerCores: number;
  /** Share of all cores busy over the measurement, 0..1. */
  machineBusy: number;
  /** Broker CPU per call, µs (includes whatever else the broker did meanwhile). */
  brokerUsPerCall: number;
  /** Services' CPU per call, µs. */
  servicesUsPerCall: number;
  /** The smallest and largest share of the calls answered by one instance. */
  minShare: number;
  maxShare: number;
}

/** One instance: bench/scale-peer.ts in a child process, resolved once it consumes. */
interface BenchService {
  child: ChildProcess;
}

async function startInstance(uri: string): Promise<BenchService> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/scale-peer.ts', uri], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`bench/scale-peer.ts exited with ${code}`)));
  });
  return { child };
}

/** SIGTERM: a graceful stop. */
async function stopInstance({ child }: BenchService): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** utime + stime of a process, in seconds; 0 when it is gone. */
function processCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** Busy and total jiffies of the whole machine. */
function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, ...rest] = line.trim().split(/\s+/);
  const n = rest.map(Number);
  const total = n.reduce((a, b) => a + b, 0);
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * The broker's Erlang VM: the beam.smp that boots rabbit (`-s rabbit boot`), not a
 * rabbitmqctl (also a beam.smp) nor a node of the local cluster (`enoki-N`, scripts/cluster.sh).
 * Undefined if not found.
 */
function brokerPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes('beam.smp') && cmd.includes('-s rabbit boot') && !cmd.includes('enoki-')) return Number(entry);
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined;
}

/** Calls of `method` at IN_FLIGHT in flight: warm-up, then SECONDS measured. */
async function measure(client: ClusterClient, services: BenchService[], instances: number, method: Method): Promise<Row> {
  const proxy = client.scale_service!;
  const call = (): Promise<unknown> => (method === 'trivial' ? proxy.trivial() : proxy[method]!(WORK_MS));
  let measuring = false;
  let stop = false;
  let done = 0;
  let failed = 0;
  const byPid = new Map<number, number>();
  const loops = Array.from({ length: IN_FLIGHT }, async () => {
    while (!stop) {
      try {
        const pid = (await call()) as number;
        if (measuring) {
          done++;
          byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
        }
      } catch {
        if (measuring) failed++;
      }
    }
  });
  await new Promise((resolve) => setTimeout(resolve, WARMUP_S * 1000));
  const broker = brokerPid();
  const pids = services.map((s) => s.child.pid!);
  const cpuOf = (): { services: number; broker: number; caller: number; machine: { busy: number; total: number } } => ({
    services: pids.reduce((sum, pid) => sum + processCpu(pid), 0),
    broker: broker === undefined ? 0 : processCpu(broker),
    caller: processCpu(process.pid),
    machine: machineCpu(),
  });
  const before = cpuOf();
  const started = performance.now();
  measuring = true;
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  const after = cpuOf();
  stop = true;
  await Promise.all(loops);
  const shares = pids.map((pid) => (byPid.get(pid) ?? 0) / Math.max(1, done));
  return {
    instances,
    method,
    callsPerSec: done / elapsed,
    failed,
    servicesCores: (after.services - before.services) / elapsed,
    // NaN, not a negative figure, if the broker process was not found or went meanwhile.
    brokerCores: broker === undefined || after.broker < before.broker ? NaN : (after.broker - before.broker) / elapsed,
    callerCores: (after.caller - before.caller) / elapsed,
    machineBusy: (after.machine.busy - before.machine.busy) / Math.max(1, after.machine.total - before.machine.total),
    brokerUsPerCall: broker === undefined || after.broker < before.broker ? NaN : ((after.broker - before.broker) / Math.max(1, done)) * 1e6,
    servicesUsPerCall: ((after.services - before.services) / Math.max(1, done)) * 1e6,
    minShare: Math.min(...shares),
    maxShare: Math.max(...shares),
  };
}

const machine = `${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}`;
console.error(`bench/scale.ts: instances ${COUNTS.join(', ')}; ${IN_FLIGHT} in flight; ${WARMUP_S} s warm-up + ${SECONDS} s per method; work ${WORK_MS} ms; ${machine}`);
const rows: Row[] = [];
for (const instances of COUNTS) {
  // A vhost per count: the queue is always rpc-scale_service.
  const vhost = `enoki-bench-scale-${process.pid}-${instances}`;
  ctl('add_vhost', vhost);
  ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  const uri = `${values.uri}/${encodeURIComponent(vhost)}`;
  const services: BenchService[] = [];
  let client: ClusterClient | undefined;
  try {
    services.push(...(await Promise.all(Array.from({ length: instances }, () => startInstance(uri)))));
    client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: uri, LOGGING: { level: 'warn' } }), { timeoutMs: 60_000 });
    for (const method of METHODS) {
      const row = await measure(client, services, instances, method);
      rows.push(row);
      console.error(`  ${instances} × ${method}: ${row.callsPerSec.toFixed(0)} calls/s, machine ${(row.machineBusy * 100).toFixed(0)}% busy`);
    }
  } finally {
    await client?.close();
    await Promise.all(services.map((s) => stopInstance(s)));
    ctl('delete_vhost', vhost);
  }
}

const label: Record<Method, string> = { trivial: 'trivial', inline: `${WORK_MS}-ms CPU inline`, pooled: `${WORK_MS}-ms CPU @cpuBound` };
const f = (v: number, d = 0): string => v.toFixed(d);
const lines = [
  `| method | instances | calls/s | × 1 instance | services CPU (cores) | broker CPU (cores) | caller CPU (cores) | machine busy | broker µs/call | services µs/call | calls per instance (min–max share) | failed |`,
  '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
];
for (const method of METHODS) {
  const base = rows.find((r) => r.method === method && r.instances === COUNTS[0]);
  for (const r of rows.filter((row) => row.method === method)) {
    lines.push(
      `| ${label[method]} | ${r.instances} | ${f(r.callsPerSec)} | ${base ? f(r.callsPerSec / base.callsPerSec, 2) : '-'} | ${f(r.servicesCores, 2)} | ${f(r.brokerCores, 2)} | ${f(r.callerCores, 2)} | ${f(r.machineBusy * 100)}% | ${f(r.brokerUsPerCall)} | ${f(r.servicesUsPerCall)} | ${f(r.minShare * 100)}–${f(r.maxShare * 100)}% | ${r.failed} |`,
    );
  }
}
console.log(`\n${lines.join('\n')}`);
console.log(`\n${machine}; ${IN_FLIGHT} in flight from one caller; ${SECONDS} s per row after ${WARMUP_S} s of warm-up; CPU from /proc (the broker's includes anything else it served meanwhile).`);

mkdirSync(RESULTS, { recursive: true });
writeFileSync(
  new URL('scale.json', RESULTS),
  JSON.stringify({ machine, inFlight: IN_FLIGHT, seconds: SECONDS, warmupS: WARMUP_S, workMs: WORK_MS, quick: values.quick, rows }, null, 1) + '\n',
);
writeFileSync(new URL('scale.svg', RESULTS), plot(rows));
console.log('wrote bench/results/scale.json and bench/results/scale.svg');

/** One group of bars per method (one bar per instance count), calls/s relative to the group's best. */
function plot(data: Row[]): string {
  const W = 760, H = 360, left = 60, right = 20, top = 50, bottom = 60;
  const plotH = H - top - bottom;
  const groupW = (W - left - right) / METHODS.length;
  const barW = Math.min(60, (groupW - 30) / COUNTS.length);
  const colours = ['#2f5fb3', '#d2691e', '#2e8b57', '#8b3a8b', '#777'];
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="#fff"/>`];
  parts.push(`<text x="${left}" y="20" font-size="14">Competing instances on one queue: calls/s (${IN_FLIGHT} in flight, ${machine})</text>`);
  COUNTS.forEach((n, i) => parts.push(`<rect x="${left + i * 110}" y="30" width="10" height="10" fill="${colours[i % colours.length]}"/><text x="${left + i * 110 + 14}" y="39">${n} instance${n === 1 ? '' : 's'}</text>`));
  METHODS.forEach((method, g) => {
    const group = data.filter((r) => r.method === method);
    const max = Math.max(1, ...group.map((r) => r.callsPerSec)) * 1.15;
    const x0 = left + g * groupW + 15;
    group.forEach((r, i) => {
      const h = (plotH * r.callsPerSec) / max;
      const x = x0 + COUNTS.indexOf(r.instances) * barW;
      parts.push(`<rect x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${colours[i % colours.length]}"/>`);
      parts.push(`<text x="${(x + (barW - 4) / 2).toFixed(1)}" y="${(top + plotH - h - 4).toFixed(1)}" text-anchor="middle" font-size="11">${Math.round(r.callsPerSec)}</text>`);
    });
    parts.push(`<text x="${(x0 + (COUNTS.length * barW) / 2).toFixed(1)}" y="${H - bottom + 18}" text-anchor="middle">${label[method]}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#999"/>`);
  parts.push(`<text x="${left}" y="${H - 12}" font-size="11">each group on its own scale; calls/s above the bars</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
