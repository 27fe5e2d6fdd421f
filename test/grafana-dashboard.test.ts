// The Grafana dashboard in docs/grafana/ stays true to what enoki exports: valid JSON with
// a schemaVersion, and every metric its PromQL names is one a live /metrics declares (a
// renamed metric would otherwise leave a panel silently empty).

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, ServiceRunner } from '../src/index.js';
import { MeteredService } from './fixtures/metrics-services.js';

const DASHBOARD = new URL('../docs/grafana/enoki-dashboard.json', import.meta.url);

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
  gridPos: { h: number; w: number; x: number; y: number };
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords or labels. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges ($__rate_interval)
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // grouping labels
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (call || PROMQL_WORDS.has(name!.toLowerCase())) continue;
    names.push(name!);
  }
  return names;
}

let runner: ServiceRunner;
let exported: Set<string>;

beforeAll(async () => {
  runner = new ServiceRunner(loadConfig({ AMQP_URI: 'memory://grafana-dashboard', METRICS_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'silent' } }));
  runner.add(MeteredService);
  await runner.start();
  const text = await (await fetch(`${runner.metricsAddress!.url}/metrics`)).text();
  // Every family the registry declares, as the sample names a query can use: a labelled
  // histogram has no samples until its first observation, but it is declared.
  exported = new Set();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) exported.add(`${name}${suffix}`);
    else exported.add(name!);
  }
});

afterAll(async () => {
  await runner?.stop();
});

describe('docs/grafana/enoki-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { schemaVersion: number; title: string; uid: string; panels: Panel[] };
  const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('is a Grafana dashboard: schemaVersion, title, uid, panels on a 24-column grid', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.title).toBe('enoki');
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    for (const panel of dashboard.panels) expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    expect(queries.length).toBeGreaterThan(10);
  });

  it('covers calls, errors, latency, workers vs max_workers, the pool and the loop delay', () => {
    const all = queries.map((q) => q.expr).join('\n');
    for (const name of ['enoki_calls_total', 'enoki_call_duration_seconds_bucket', 'enoki_workers_in_flight', 'enoki_max_workers', 'enoki_pool_threads_busy', 'enoki_pool_queue_size', 'enoki_event_loop_delay_seconds']) {
      expect(all).toContain(name);
    }
  });

  it('finds the metric names in PromQL', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, service) (rate(enoki_x_bucket{service=~"$service", a="b c"}[$__rate_interval]))) / on (job) group_left max(up) * 1e9')).toEqual(['enoki_x_bucket', 'up']);
  });

  it('reads only metrics that a live /metrics declares', () => {
    expect(exported.has('enoki_calls_total')).toBe(true);
    const missing = queries.flatMap(({ panel, expr }) => metricNames(expr).filter((name) => !exported.has(name)).map((name) => `${panel}: ${name}`));
    expect(missing).toEqual([]);
    // The parser finds names at all (a broken one would pass the check above vacuously).
    expect(new Set(queries.flatMap((q) => metricNames(q.expr))).size).toBeGreaterThan(15);
  });
});
