// The seed scenario at full scale: one long CPU-bound call at RabbitMQ's default heartbeat,
// written three ways (test/fixtures/offload/heartbeat-service.ts): inline, yieldEvery,
// @cpuBound. Each variant's service runs in a child process (heartbeat-child.ts) so an
// inline loop blocks a real service process and the measuring clients stay separate.
// While the busy call runs, a second client pings `hello` once a second.
//
//   npx tsx bench/heartbeat.ts                                   # all three, 300 s at heartbeat 60 (~20 min)
//   npx tsx bench/heartbeat.ts --variant cpuBound --seconds 30 --heartbeat 5
//   npx tsx bench/heartbeat.ts --plot-only                       # redraw the SVG from saved results
//
// Writes bench/results/heartbeat-<variant>.json (raw samples) and bench/results/heartbeat.svg.
// Target for @cpuBound and yieldEvery: 1 delivery, 0 redeliveries, 0 drops, ping p99 < 50 ms.

import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ClusterRpcProxy, loadConfig } from '../src/index.js';
import { deleteQueues, HeartbeatChild, type ChildEvent } from '../test/fixtures/offload/heartbeat-harness.js';
import { serviceNameFor, VARIANTS, type Variant } from '../test/fixtures/offload/heartbeat-service.js';

const { values } = parseArgs({
  options: {
    variant: { type: 'string', default: 'all' },
    seconds: { type: 'string', default: '300' },
    heartbeat: { type: 'string', default: '60' },
    'ping-timeout': { type: 'string', default: '5' },
    uri: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672/' },
    exchange: { type: 'string', default: 'enoki-bench-heartbeat' },
    'plot-only': { type: 'boolean', default: false },
  },
});

const SECONDS = Number(values.seconds);
const HEARTBEAT = Number(values.heartbeat);
const PING_TIMEOUT_MS = Number(values['ping-timeout']) * 1000;
const URI = values.uri!;
const EXCHANGE = values.exchange!;
const PREFIX = 'hb_bench';
const RESULTS = new URL('./results/', import.meta.url);
const variants: Variant[] = values.variant === 'all' ? [...VARIANTS] : (values.variant!.split(',') as Variant[]);
for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`unknown variant ${v}; one of ${VARIANTS.join(', ')}`);

interface Ping {
  /** Seconds after the busy call was sent. */
  t: number;
  ms: number | null;
  error?: string;
}

interface Summary {
  deliveries: number;
  redeliveries: number;
  /** Connection losses not caused by the broker itself (missed heartbeats show as ECONNRESET). */
  drops: number;
  /** The broker closed every connection (restarted by something else on a shared machine). */
  brokerRestarts: number;
  repliesPublished: number;
  repliesReceived: number;
  wallS: number | null;
  /** From the first busy delivery to its reply; null when no reply was ever sent (inline). */
  loopP50: number | null;
  loopP99: number | null;
  loopMax: number;
  pingP50: number | null;
  pingP99: number | null;
  pingMax: number | null;
  pingsFailed: number;
  pingsSent: number;
  /** The bench process's own (idle) event loop: what the machine does to any process. */
  controlP99: number;
  controlMax: number;
  /** 1-minute load average at the end: above the core count, every number here is inflated. */
  load: number;
}

interface VariantResult {
  variant: Variant;
  config: { seconds: number; heartbeat: number; pingTimeoutMs: number };
  machine: { cores: number; cpu: string; node: string };
  startedAt: number;
  summary: Summary;
  pings: Ping[];
  /** Per-second event-loop delay in the service process: [seconds after start, p99 ms, max ms]. */
  loop: Array<[number, number, number]>;
  events: ChildEvent[];
  stderrTail: string[];
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const fmt = (v: number | null, digits = 1): string => (v === null ? '-' : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(digits)} ms`);

async function runVariant(variant: Variant): Promise<VariantResult> {
  const serviceName = serviceNameFor(variant, PREFIX);
  await deleteQueues(URI, [serviceName]);
  const child = new HeartbeatChild({ variant, heartbeat: HEARTBEAT, exchange: EXCHANGE, uri: URI, prefix: PREFIX });
  await child.waitFor(() => child.count('ready') > 0, 60_000, 'ready');
  const config = loadConfig({ AMQP_URI: URI, rpc_exchange: EXCHANGE, HEARTBEAT, LOGGING: { level: 'silent' } });
  const caller = await ClusterRpcProxy.connect(config, { name: 'hb_bench_caller', timeoutMs: null });
  const pinger = await ClusterRpcProxy.connect(config, { name: 'hb_bench_pinger', timeoutMs: PING_TIMEOUT_MS });

  const control = monitorEventLoopDelay({ resolution: 1 });
  control.enable();
  const startedAt = Date.now();
  const since = (t: number): number => (t - startedAt) / 1000;
  let replyAt: number | null = null;
  let callError: string | undefined;
  const busy = caller
    .service(serviceName)
    .busy(SECONDS)
    .then(
      () => {
        replyAt = Date.now();
      },
      (err: Error) => {
        callError = `${err.name}: ${err.message}`;
      },
    );

  const pings: Ping[] = [];
  const inFlight = new Set<Promise<void>>();
  const pingTimer = setInterval(() => {
    const sent = Date.now();
    const start = performance.now();
    const p = pinger
      .service(serviceName)
      .hello()
      .then(
        () => void pings.push({ t: since(sent), ms: performance.now() - start }),
        (err: Error) => void pings.push({ t: since(sent), ms: null, error: err.name }),
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, 1000);

  const progress = setInterval(() => {
    const ok = pings.filter((p) => p.ms !== null).length;
    const lastLoop = [...child.events].reverse().find((e) => e.type === 'loop');
    console.log(
      `  [${variant}] ${since(Date.now()).toFixed(0).padStart(4)} s  deliveries ${child.count('delivery', 'busy')}` +
        `  drops ${child.count('disconnected')}  pings ok ${ok} failed ${pings.length - ok}` +
        `  loop p99 ${lastLoop ? fmt(lastLoop.p99 as number) : '(no sample: loop blocked?)'}`,
    );
  }, 5000);

  // Ends at the reply, or once the request was delivered again (the inline pitfall is
  // then shown: that copy blocks the loop again, and so on, so no reply ever comes), or at
  // a deadline long enough for a drop, the end of the work, a reconnect and a redelivery.
  const deadline = startedAt + (2 * SECONDS + 4 * HEARTBEAT + 30) * 1000;
  const redelivered = child.waitFor(() => child.count('delivery', 'busy', (e) => e.redelivered === true) > 0, deadline - Date.now(), 'redelivery');
  redelivered.catch(() => undefined);
  await Promise.race([busy, redelivered, new Promise((resolve) => setTimeout(resolve, deadline - Date.now()))]);
  // Watch a little longer: a redelivery (inline) shows right after the reconnect.
  await new Promise((resolve) => setTimeout(resolve, Math.max(5_000, Math.min(2 * HEARTBEAT, 30) * 1000)));
  clearInterval(pingTimer);
  clearInterval(progress);
  control.disable();
  await Promise.allSettled([...inFlight]);

  // Counted before stopping: a graceful stop closes the connection too.
  const forced = (e: ChildEvent): boolean => /CONNECTION_FORCED/.test(String(e.reason ?? ''));
  const drops = child.count('disconnected', undefined, (e) => !forced(e));
  const brokerRestarts = child.count('disconnected', undefined, forced);
  const busyEvents = child.events.filter((e) => e.method === 'busy');
  const taskLoop = child.events.find((e) => e.type === 'task-loop');
  const loop = child.events
    .filter((e) => e.type === 'loop' && e.t >= startedAt && (replyAt === null || e.t <= replyAt + 1000))
    .map((e) => [since(e.t), e.p99 as number, e.max as number] as [number, number, number]);
  // The inline variant is blocked again on its redelivered copy: it cannot stop gracefully.
  await child.stop(variant === 'inline' ? 'SIGKILL' : 'SIGTERM');
  await caller.close();
  await pinger.close();
  await deleteQueues(URI, [serviceName]);
  if (callError) console.log(`  [${variant}] busy call failed: ${callError}`);

  const latencies = pings
    .filter((p) => p.ms !== null)
    .map((p) => p.ms!)
    .sort((a, b) => a - b);
  const summary: Summary = {
    deliveries: busyEvents.filter((e) => e.type === 'delivery').length,
    redeliveries: busyEvents.filter((e) => e.type === 'delivery' && e.redelivered).length,
    drops,
    brokerRestarts,
    repliesPublished: busyEvents.filter((e) => e.type === 'reply').length,
    repliesReceived: replyAt === null ? 0 : 1,
    wallS: replyAt === null ? null : since(replyAt),
    loopP50: taskLoop ? (taskLoop.p50 as number) : null,
    loopP99: taskLoop ? (taskLoop.p99 as number) : null,
    loopMax: Math.max((taskLoop?.max as number) ?? 0, ...loop.map((l) => l[2])),
    pingP50: percentile(latencies, 50),
    pingP99: percentile(latencies, 99),
    pingMax: latencies.at(-1) ?? null,
    pingsFailed: pings.filter((p) => p.ms === null).length,
    pingsSent: pings.length,
    controlP99: Math.max(0, control.percentile(99) / 1e6 - 1),
    controlMax: Math.max(0, control.max / 1e6 - 1),
    load: loadavg()[0]!,
  };
  return {
    variant,
    config: { seconds: SECONDS, heartbeat: HEARTBEAT, pingTimeoutMs: PING_TIMEOUT_MS },
    machine: machine(),
    startedAt,
    summary,
    pings,
    loop,
    events: child.events,
    stderrTail: child.stderr.slice(-30),
  };
}

function machine(): VariantResult['machine'] {
  return { cores: availableParallelism(), cpu: cpus()[0]?.model ?? '?', node: process.version };
}

function printTable(results: VariantResult[]): void {
  const rows: Array<[string, (s: Summary) => string]> = [
    ['deliveries', (s) => String(s.deliveries)],
    ['redeliveries', (s) => String(s.redeliveries)],
    ['connection drops', (s) => String(s.drops)],
    ['(broker restarts, not counted)', (s) => String(s.brokerRestarts ?? 0)],
    ['replies published (received)', (s) => `${s.repliesPublished} (${s.repliesReceived})`],
    ['wall time', (s) => (s.wallS === null ? 'no reply' : `${s.wallS.toFixed(1)} s`)],
    ['loop delay p50 (service)', (s) => fmt(s.loopP50, 2)],
    ['loop delay p99 (service)', (s) => fmt(s.loopP99, 2)],
    ['loop delay max (service)', (s) => fmt(s.loopMax, 1)],
    ['ping p50', (s) => fmt(s.pingP50, 2)],
    ['ping p99', (s) => fmt(s.pingP99, 2)],
    ['pings failed / sent', (s) => `${s.pingsFailed} / ${s.pingsSent}`],
    ['control: bench loop p99 / max', (s) => (s.controlP99 === undefined ? '-' : `${fmt(s.controlP99)} / ${fmt(s.controlMax)}`)],
    ['load average (1 min)', (s) => (s.load === undefined ? '-' : s.load.toFixed(2))],
  ];
  const first = results[0]!;
  console.log(
    `\nheartbeat bench: ${first.config.seconds} s busy call, HEARTBEAT ${first.config.heartbeat} s, ping every 1 s (timeout ${first.config.pingTimeoutMs / 1000} s)` +
      `\nmachine: ${first.machine.cores} cores, ${first.machine.cpu}, node ${first.machine.node}\n`,
  );
  const width = 30;
  const col = 14;
  console.log(`| ${'metric'.padEnd(width)} | ${results.map((r) => r.variant.padEnd(col)).join(' | ')} |`);
  console.log(`|${'-'.repeat(width + 2)}|${results.map(() => '-'.repeat(col + 2)).join('|')}|`);
  for (const [label, cell] of rows) console.log(`| ${label.padEnd(width)} | ${results.map((r) => cell(r.summary).padEnd(col)).join(' | ')} |`);
}

// --- plot -----------------------------------------------------------------------------

const COLORS: Record<Variant, string> = { inline: '#d62728', yieldEvery: '#1f77b4', cpuBound: '#2ca02c' };

function plot(results: VariantResult[]): string {
  const W = 900;
  const panelH = 260;
  const left = 70;
  const right = 20;
  const top = 40;
  const gap = 70;
  const H = top + 2 * panelH + gap + 50;
  const maxT = Math.max(10, ...results.flatMap((r) => [...r.pings.map((p) => p.t), ...r.loop.map((l) => l[0])]));
  const x = (t: number): number => left + (t / maxT) * (W - left - right);
  const parts: string[] = [];
  const text = (px: number, py: number, s: string, extra = ''): void =>
    void parts.push(`<text x="${px.toFixed(1)}" y="${py.toFixed(1)}" font-size="12" font-family="sans-serif" ${extra}>${s}</text>`);

  const panel = (y0: number, title: string, series: Array<{ variant: Variant; points: Array<[number, number]>; failed?: number[] }>, ceilMs: number): void => {
    const minLog = -1; // 0.1 ms
    const maxLog = Math.ceil(Math.log10(Math.max(ceilMs, 10)));
    const y = (ms: number): number => y0 + panelH - ((Math.log10(Math.max(ms, 0.1)) - minLog) / (maxLog - minLog)) * panelH;
    parts.push(`<rect x="${left}" y="${y0}" width="${W - left - right}" height="${panelH}" fill="none" stroke="#999"/>`);
    text(left, y0 - 8, title, 'font-weight="bold"');
    for (let d = minLog; d <= maxLog; d++) {
      const ms = 10 ** d;
      parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(ms).toFixed(1)}" y2="${y(ms).toFixed(1)}" stroke="#eee"/>`);
      text(left - 6, y(ms) + 4, ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`, 'text-anchor="end"');
    }
    const stepT = maxT > 600 ? 120 : maxT > 120 ? 30 : maxT > 30 ? 10 : 5;
    for (let t = 0; t <= maxT; t += stepT) {
      parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${y0}" y2="${y0 + panelH}" stroke="#f3f3f3"/>`);
      text(x(t), y0 + panelH + 15, `${t}`, 'text-anchor="middle"');
    }
    text(W - right, y0 + panelH + 30, 'seconds since the busy call was sent', 'text-anchor="end"');
    for (const s of series) {
      if (s.points.length > 0) {
        const d = s.points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
        parts.push(`<path d="${d}" fill="none" stroke="${COLORS[s.variant]}" stroke-width="1.5"/>`);
        for (const [t, v] of s.points) parts.push(`<circle cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="1.8" fill="${COLORS[s.variant]}"/>`);
      }
      for (const t of s.failed ?? []) {
        const px = x(t);
        const py = y(ceilMs);
        parts.push(`<path d="M${px - 3},${py - 3} L${px + 3},${py + 3} M${px - 3},${py + 3} L${px + 3},${py - 3}" stroke="${COLORS[s.variant]}"/>`);
      }
    }
  };

  const loopCeil = Math.max(100, ...results.flatMap((r) => r.loop.map((l) => l[2])));
  panel(
    top,
    'event-loop delay in the service process (max per 1 s window, log scale)',
    results.map((r) => ({ variant: r.variant, points: r.loop.map(([t, , max]) => [t, max] as [number, number]) })),
    loopCeil,
  );
  const pingCeil = Math.max(...results.map((r) => r.config.pingTimeoutMs));
  panel(
    top + panelH + gap,
    `hello ping latency, once a second (x = failed: no reply within ${pingCeil / 1000} s)`,
    results.map((r) => ({
      variant: r.variant,
      points: r.pings.filter((p) => p.ms !== null).map((p) => [p.t, p.ms!] as [number, number]),
      failed: r.pings.filter((p) => p.ms === null).map((p) => p.t),
    })),
    pingCeil,
  );
  results.forEach((r, i) => {
    const lx = left + 10 + i * 150;
    parts.push(`<rect x="${lx}" y="${H - 22}" width="12" height="12" fill="${COLORS[r.variant]}"/>`);
    text(lx + 18, H - 12, r.variant);
  });
  const first = results[0]!;
  const caption = `${first.config.seconds} s busy call, HEARTBEAT ${first.config.heartbeat} s; ${first.machine.cores} cores, node ${first.machine.node}`;
  text(left + 460, H - 12, caption);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

function loadSaved(): VariantResult[] {
  return VARIANTS.map((v) => new URL(`heartbeat-${v}.json`, RESULTS))
    .filter((url) => existsSync(url))
    .map((url) => JSON.parse(readFileSync(url, 'utf8')) as VariantResult);
}

// --- main -----------------------------------------------------------------------------

mkdirSync(RESULTS, { recursive: true });
const results: VariantResult[] = [];
if (!values['plot-only']) {
  for (const variant of variants) {
    console.log(`\n== ${variant}: ${SECONDS} s busy call at HEARTBEAT ${HEARTBEAT} s`);
    const result = await runVariant(variant);
    writeFileSync(new URL(`heartbeat-${variant}.json`, RESULTS), `${JSON.stringify(result, null, 1)}\n`);
    results.push(result);
    const s = result.summary;
    console.log(
      `  [${variant}] done: deliveries ${s.deliveries}, redeliveries ${s.redeliveries}, drops ${s.drops}, ping p99 ${fmt(s.pingP99, 2)}, failed ${s.pingsFailed}`,
    );
  }
  printTable(results);
}
// The plot shows every variant with saved results at the scale of this run (or, with
// --plot-only, of the first saved one).
const saved = loadSaved();
const reference = results[0] ?? saved[0];
const scale = reference ? saved.filter((r) => r.config.seconds === reference.config.seconds && r.config.heartbeat === reference.config.heartbeat) : [];
if (values['plot-only'] && scale.length > 0) printTable(scale);
if (scale.length > 0) {
  writeFileSync(new URL('heartbeat.svg', RESULTS), plot(scale));
  console.log(`\nwrote bench/results/heartbeat-<variant>.json and bench/results/heartbeat.svg (${scale.map((r) => r.variant).join(', ')})`);
}
process.exit(0);
