// What metrics add to one call, measured where they are paid: the worker path of a
// container (its onWorkerDone listener: one counter, two histograms) and one /metrics
// scrape. Two containers of the same service in one process, one with a runner's metrics
// attached and one without, are driven in alternation, many short rounds each, so a busy
// machine slows both alike. No broker: a call's own cost (AMQP, JSON) would only add noise.
//
//   npx tsx bench/metrics-overhead.ts [--calls 20000] [--rounds 20]

import { parseArgs } from 'node:util';
import { loadConfig, rpc, ServiceContainer } from 'enoki';
import { EnokiMetrics } from '../src/metrics/enoki-metrics.js';
import { RunnerMetrics } from '../src/metrics/runner-metrics.js';
import { median } from './stats.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '20' } } });
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);

class BenchService {
  static name = 'bench_service';
  @rpc hello(name: string) {
    return `Hello, ${name}!`;
  }
}

const config = loadConfig({ AMQP_URI: 'memory://metrics-overhead', LOGGING: { level: 'warn' }, max_workers: 64 });
const off = new ServiceContainer(BenchService, config);
const on = new ServiceContainer(BenchService, config);
await off.start();
await on.start();
const metrics = new RunnerMetrics({ containers: [on], logger: on.logger }, new EnokiMetrics(await import('prom-client')));
metrics.markStarted();

async function drive(container: ServiceContainer, calls: number): Promise<number> {
  const method = container.definition.methods.get('hello')!;
  const started = performance.now();
  // 16 in flight, as a busy service has.
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < calls) await container.spawnWorker(method, ['bench'], { entrypoint: 'rpc' });
    }),
  );
  return ((performance.now() - started) * 1000) / calls;
}

await drive(off, CALLS);
await drive(on, CALLS);
const us = { off: [] as number[], on: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which goes first, so neither always runs on a warmer (or busier) machine.
  if (round % 2 === 0) {
    us.off.push(await drive(off, CALLS));
    us.on.push(await drive(on, CALLS));
  } else {
    us.on.push(await drive(on, CALLS));
    us.off.push(await drive(off, CALLS));
  }
}
const scrapes: number[] = [];
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  await metrics.metrics.registry.metrics();
  scrapes.push(performance.now() - t);
}
const [a, b] = [median(us.off), median(us.on)];
console.log(`\n| worker path, ${ROUNDS} rounds of ${CALLS} calls | µs per call (median) |`);
console.log('|---|---:|');
console.log(`| metrics off | ${a.toFixed(2)} |`);
console.log(`| metrics on | ${b.toFixed(2)} |`);
console.log(`| added by metrics | ${(b - a).toFixed(2)} |`);
console.log(`\none /metrics scrape (median of 50): ${median(scrapes).toFixed(2)} ms`);
metrics.detach();
await off.stop();
await on.stop();
