// The per-call counter and histogram (src/metrics/hot-path-metrics.ts) print exactly what
// prom-client's own Counter and Histogram print for the same observations.

import { Counter, Histogram, Registry, type Metric } from 'prom-client';
import { expect, it } from 'vitest';
import { FastCounter, FastHistogram } from '../src/metrics/hot-path-metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const VALUES = [0, 0.0005, 0.001, 0.002, 0.05, 0.1, 0.5, 2, 30];

it('a FastHistogram and a FastCounter expose what prom-client would', async () => {
  const theirs = new Registry();
  const histogram = new Histogram({ name: 'h_seconds', help: 'help text', labelNames: ['service', 'method'], buckets: BUCKETS, registers: [theirs] });
  const counter = new Counter({ name: 'c_total', help: 'count', labelNames: ['service', 'outcome'], registers: [theirs] });
  const ours = new Registry();
  const fastHistogram = new FastHistogram('h_seconds', 'help text', ['service', 'method'], BUCKETS);
  const fastCounter = new FastCounter('c_total', 'count', ['service', 'outcome']);
  ours.registerMetric(fastHistogram as unknown as Metric);
  ours.registerMetric(fastCounter as unknown as Metric);

  for (const method of ['a', 'b']) {
    const series = fastHistogram.seriesFor({ service: 's', method });
    for (const value of VALUES) {
      histogram.observe({ service: 's', method }, value);
      fastHistogram.observe(series, value);
    }
  }
  for (const outcome of ['ok', 'error', 'ok', 'ok']) {
    counter.inc({ service: 's', outcome });
    fastCounter.seriesFor({ service: 's', outcome }).value++;
  }
  expect(await ours.metrics()).toBe(await theirs.metrics());
  // The same label set is the same series, whatever the key order.
  expect(fastCounter.seriesFor({ outcome: 'ok', service: 's' }).value).toBe(3);
});
