// `npm run dashboard:picture`: the picture of docs/grafana/enoki-dashboard.json in README.
// It runs the example services (services/: greeting_service, service2, inference with its
// HTTP routes, shop and warehouse) under `enoki run` with METRICS_ADDRESS, has a real
// Prometheus scrape them every second, puts them under load in three phases, then evaluates
// every panel's PromQL, exactly as the dashboard JSON has it, through Prometheus's HTTP API
// (query_range) and draws the panels where their gridPos puts them (scripts/dashboard-svg.ts).
// There is no Grafana here: the picture is drawn by that script, not a Grafana screenshot.
//
//   npm run dashboard:picture -- [--seconds 120] [--uri amqp://guest:guest@127.0.0.1:5672] [--prometheus /usr/bin/prometheus]
//
// Needs RabbitMQ (its own vhost, made with rabbitmqctl and deleted after) and Prometheus
// (Debian: apt-get install prometheus). Writes docs/grafana/enoki-dashboard.svg.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ClusterRpcProxy, loadConfig } from 'enoki';
import { startEnokiRun, stopEnokiRun } from '../bench/enoki-run.js';
import { renderDashboard, type DashboardPanel, type Series } from './dashboard-svg.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    uri: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    prometheus: { type: 'string', default: process.env.PROMETHEUS ?? '/usr/bin/prometheus' },
  },
});
const SECONDS = Number(values.seconds);
const DASHBOARD = new URL('../docs/grafana/enoki-dashboard.json', import.meta.url);
const OUTPUT = new URL('../docs/grafana/enoki-dashboard.svg', import.meta.url);
const SCRAPE_S = 1;
// Grafana's $__rate_interval: max($__interval + scrape interval, 4 × scrape interval); with
// the data source's scrape interval set to 1 s and a range of minutes, $__interval is 1 s.
const RATE_INTERVAL = `${Math.max(SCRAPE_S + SCRAPE_S, 4 * SCRAPE_S)}s`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const vhost = `enoki-dashboard-picture-${process.pid}`;
const ctl = (...args: string[]): void => void execFileSync('rabbitmqctl', args, { stdio: 'ignore' });
const uri = `${values.uri}/${encodeURIComponent(vhost)}`;
const [metricsPort, webPort, promPort] = [await freePort(), await freePort(), await freePort()];
const dir = mkdtempSync(join(tmpdir(), 'enoki-dashboard-picture-'));
const promUrl = `http://127.0.0.1:${promPort}`;
const webUrl = `http://127.0.0.1:${webPort}`;

ctl('add_vhost', vhost);
ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
writeFileSync(
  join(dir, 'prometheus.yml'),
  JSON.stringify({
    global: { scrape_interval: `${SCRAPE_S}s`, evaluation_interval: `${SCRAPE_S}s` },
    scrape_configs: [{ job_name: 'enoki', static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] }],
  }),
);
const prometheus = spawn(values.prometheus!, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
const settings = {
  AMQP_URI: uri,
  METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
  WEB_SERVER_ADDRESS: `127.0.0.1:${webPort}`,
  POOL: { threads: 2 },
  LOGGING: { level: 'info' },
};
const service = await startEnokiRun(settings, ['services:GreetingService', 'services:Service2', 'services:InferenceService', 'services/shop/shop.ts:Shop', 'services/shop/shop.ts:Warehouse']);
const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: uri, LOGGING: { level: 'warn' } }), { timeoutMs: 60_000 });

/** Runs `call` `perSecond` times a second until `until` (ms since the epoch), at most `cap` at once. */
async function paced(perSecond: number, until: number, call: () => Promise<unknown>, cap = 32): Promise<number> {
  let inFlight = 0;
  let done = 0;
  const all: Array<Promise<unknown>> = [];
  for (let next = Date.now(); next < until; next += 1000 / perSecond) {
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
    if (inFlight >= cap) continue;
    inFlight++;
    all.push(call().catch(() => undefined).finally(() => (inFlight--, done++)));
  }
  await Promise.all(all);
  return done;
}

/** `workers` loops each calling `call` back to back until `until`. */
async function closed(workers: number, until: number, call: () => Promise<unknown>): Promise<void> {
  await Promise.all(Array.from({ length: workers }, async () => {
    while (Date.now() < until) await call().catch(() => undefined);
  }));
}

const images = (JSON.parse(readFileSync(new URL('../services/inference/expected.json', import.meta.url), 'utf8')) as { cases: Array<{ input: number[] }> }).cases.map((c) => c.input);
const post = (path: string, body: unknown) => fetch(`${webUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.arrayBuffer());
const greeting = client.greeting_service!;

try {
  await new Promise<void>((resolve, reject) => {
    const poll = async () => {
      const ready = await fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false);
      if (ready) resolve();
      else if (prometheus.exitCode !== null) reject(new Error(`prometheus exited ${prometheus.exitCode}`));
      else setTimeout(poll, 200);
    };
    void poll();
  });
  await sleep(3000); // a few scrapes of the idle services first
  const start = Date.now();
  const third = (SECONDS * 1000) / 3;
  const end = start + SECONDS * 1000;
  console.error(`dashboard-picture: ${SECONDS} s of load on the example services; Prometheus at ${promUrl}, metrics at 127.0.0.1:${metricsPort}`);
  let n = 0;
  await Promise.all([
    // All along: RPC (inline and through service2's RpcProxy), events, timers, HTTP.
    paced(40, end, () => greeting.hello(`caller ${n++}`)),
    paced(8, end, () => client.service2!.hello_service2('nested')),
    paced(4, end, () => client.shop!.place_order('teapot')),
    paced(10, end, () => post('/classify', { image: images[n % images.length] })),
    paced(1, end, () => fetch(`${webUrl}/`).then((r) => r.arrayBuffer())),
    // Second third: @cpuBound work keeps the two pool threads busy with a queue behind them;
    // in its middle, 14 more callers ask for more than greeting_service's max_workers (10).
    (async () => {
      await sleep(third);
      await Promise.all([
        closed(3, start + 2 * third, () => greeting.computation_bound_pool(0.25)),
        paced(4, start + 2 * third, () => post('/predict', { inputs: images.slice(0, 3) })),
        (async () => {
          await sleep(third / 3);
          await closed(14, start + third * (5 / 3), () => greeting.computation_bound_pool(0.25));
        })(),
      ]);
    })(),
    // Last third: errors (unexpected and the caller's), and inline CPU that blocks the event
    // loop for 150 ms every 4 s (the pitfall; the loop-delay panel shows it).
    (async () => {
      await sleep(2 * third);
      await Promise.all([
        paced(3, end, () => greeting.raise_exception()),
        paced(5, end, () => greeting.hello('')),
        paced(0.25, end, () => greeting.computation_bound(0.15)),
      ]);
    })(),
  ]);
  await sleep(5000); // the tail, and the last scrapes

  const promVersion = ((await (await fetch(`${promUrl}/api/v1/status/buildinfo`)).json()) as { data: { version: string } }).data.version;
  const from = Math.floor(start / 1000) - 3;
  const to = Math.ceil(Date.now() / 1000);
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; panels: DashboardPanel[] };
  const results = new Map<string, Series[]>();
  for (const [i, panel] of dashboard.panels.entries()) {
    for (const [k, target] of (panel.targets ?? []).entries()) {
      // The dashboard's variables as Grafana fills them: every service ("All" is .*).
      const expr = target.expr.replaceAll('$__rate_interval', RATE_INTERVAL).replaceAll('$service', '.*');
      const query = new URLSearchParams({ query: expr, start: String(from), end: String(to), step: String(SCRAPE_S) });
      const body = (await (await fetch(`${promUrl}/api/v1/query_range?${query}`)).json()) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
      if (body.status !== 'success') throw new Error(`${panel.title}: ${expr}: ${body.error}`);
      results.set(`${i}/${k}`, body.data.result.map((r) => ({ labels: r.metric, points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]) })));
    }
  }
  const svg = renderDashboard({
    title: `${dashboard.title}: docs/grafana/enoki-dashboard.json`,
    subtitle: [
      `Not a Grafana screenshot: drawn by scripts/dashboard-svg.ts from the dashboard's gridPos, titles, units and PromQL, evaluated by Prometheus ${promVersion}`,
      `(1 s scrapes of METRICS_ADDRESS) over ${SECONDS} s of load on the example services under enoki run: npm run dashboard:picture, ${new Date(start).toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    ],
    panels: dashboard.panels,
    series: (i, k) => results.get(`${i}/${k}`) ?? [],
    from,
    to,
  });
  writeFileSync(OUTPUT, svg);
  const empty = dashboard.panels.filter((p, i) => p.type !== 'row' && (p.targets ?? []).every((_, k) => (results.get(`${i}/${k}`) ?? []).length === 0)).map((p) => p.title);
  console.error(`wrote ${OUTPUT.pathname} (${Math.round(svg.length / 1024)} KB); panels with no series: ${empty.length ? empty.join(', ') : 'none'}`);
} finally {
  await client.close();
  await stopEnokiRun(service);
  prometheus.kill('SIGTERM');
  await new Promise((resolve) => (prometheus.exitCode !== null ? resolve(null) : prometheus.once('exit', resolve)));
  rmSync(dir, { recursive: true, force: true });
  ctl('delete_vhost', vhost);
}
