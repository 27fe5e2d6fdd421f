// Pitfall (c): expensive initialisation per call. nameko makes a new service instance for
// every call, so a model loaded in `__init__` (or in the method) is loaded again for every
// request. enoki makes an instance per call too, on purpose (per-call state on `this` is
// safe), so the same mistake looks like this: an instance field initialiser runs per call.
//
// enoki's answer: expensive shared things go in `static` fields, made once per process,
// and once per pool thread for @cpuBound methods (a thread imports the module itself).
//
//   npx tsx scripts/pitfalls/init-per-call.ts [--calls 60]
//
// Both services below run the example's real model (services/inference/model.json) under
// `enoki run` with 2 pool threads; each call reports which thread answered and how many
// times that thread has loaded the model. Exits 1 if the static model was loaded more
// than once in any thread.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { threadId } from 'node:worker_threads';
import { ClusterRpcProxy, cpuBound, rpc } from '../../src/index.js';
import { loadModel } from '../../services/inference/model.js';
import { clientConfig, deleteQueues, isEntry, ms, percentile, ServiceProcess, serviceName, table, verdict } from './support.js';

const MODEL_PATH = new URL('../../services/inference/model.json', import.meta.url).pathname;

// Per thread (each thread has its own module instance): how often each service loaded it.
let perCallLoads = 0;
let staticLoads = 0;

/** Before: a field initialiser, which runs for every instance, i.e. for every call. */
export class PerCallModel {
  static name = serviceName('pitfall_init_per_call');

  model = (() => {
    perCallLoads++;
    return loadModel(MODEL_PATH);
  })();

  @rpc
  @cpuBound
  predict(batch: number[][]) {
    return { labels: this.model.predict(batch).labels, threadId, loads: perCallLoads };
  }
}

/** After: a static field, initialised once when this thread first imports the module. */
export class StaticModel {
  static name = serviceName('pitfall_init_static');

  static model = (() => {
    staticLoads++;
    return loadModel(MODEL_PATH);
  })();

  @rpc
  @cpuBound
  predict(batch: number[][]) {
    return { labels: StaticModel.model.predict(batch).labels, threadId, loads: staticLoads };
  }
}

interface Answer {
  labels: number[];
  threadId: number;
  loads: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '60' } } });
  const calls = Number(values.calls);
  const expected = JSON.parse(readFileSync(new URL('../../services/inference/expected.json', import.meta.url), 'utf8')) as {
    cases: Array<{ input: number[]; label: number }>;
  };
  const image = expected.cases[0]!;
  const service = await ServiceProcess.start(['scripts/pitfalls/init-per-call.ts'], { POOL: { threads: 2, idle_timeout: 300 } });
  const rows: string[][] = [];
  const failures: string[] = [];
  try {
    await using client = await ClusterRpcProxy.connect(clientConfig(), { timeoutMs: 60_000 });
    for (const cls of [PerCallModel, StaticModel]) {
      const proxy = client.service(cls.name);
      await proxy.predict([image.input]); // the first call may wait for a thread to start
      const latencies: number[] = [];
      const answers: Answer[] = [];
      let next = 0;
      const started = performance.now();
      // Two callers at a time, so both pool threads work.
      await Promise.all(
        [0, 1].map(async () => {
          while (next++ < calls) {
            const t = performance.now();
            const answer = (await proxy.predict([image.input])) as Answer;
            latencies.push(performance.now() - t);
            answers.push(answer);
            if (answer.labels[0] !== image.label) failures.push(`${cls.name}: predicted ${answer.labels[0]}, the saved model says ${image.label}`);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      // The highest count each thread reported is how often it loaded the model in all.
      const perThread = new Map<number, number>();
      for (const a of answers) perThread.set(a.threadId, Math.max(perThread.get(a.threadId) ?? 0, a.loads));
      const loads = [...perThread.values()].reduce((s, n) => s + n, 0);
      const label = cls === PerCallModel ? 'before: `model = loadModel()` (instance field)' : 'after: `static model = loadModel()`';
      rows.push([
        label,
        String(calls + 1),
        `${loads} (${[...perThread.entries()].map(([id, n]) => `thread ${id}: ${n}`).join(', ')})`,
        (calls / seconds).toFixed(0),
        ms(percentile(latencies, 50), 2),
        ms(percentile(latencies, 99), 2),
      ]);
      if (cls === StaticModel && [...perThread.values()].some((n) => n !== 1)) failures.push(`the static model was loaded more than once in a thread: ${rows.at(-1)![2]}`);
      if (cls === PerCallModel && loads < calls) failures.push(`the per-call variant reported only ${loads} loads for ${calls} calls: the demonstration itself is broken`);
    }
  } finally {
    const code = await service.stop();
    if (code !== 0) failures.push(`enoki run exited ${code} on SIGTERM`);
    await deleteQueues([PerCallModel.name, StaticModel.name]);
  }
  console.log(`\nOne image through the example model (@cpuBound, 2 pool threads, 2 callers):\n`);
  console.log(table(['where the model is loaded', 'calls', 'model loads (per pool thread)', 'calls/s', 'p50', 'p99'], rows));
  verdict(failures, 'the static model loaded once per pool thread, whatever the number of calls.');
}

if (isEntry(import.meta.url)) await main();
