// ONNX Runtime in enoki's pool threads, under the conditions that broke it in older
// releases (onnxruntime issue 24486: several worker threads with sessions at once): every
// pool thread running sessions concurrently, threads ending on idle and new ones starting
// their own session, a crashed thread replaced, and a graceful stop while batches run.
// onnxruntime-node is pinned (package.json) so this test guards the version in use.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, ServiceRunner, type ClusterClient } from '../src/index.js';
import { OnnxThreads } from './fixtures/onnx/onnx-threads-service.js';

const { cases } = JSON.parse(readFileSync(new URL('../services/inference/expected.json', import.meta.url), 'utf8')) as {
  cases: Array<{ input: number[]; label: number }>;
};

type Answer = { label: number; threadId: number; sessions: number; batch: number };
const config = loadConfig({ AMQP_URI: 'memory://onnx-threads', max_workers: 64, POOL: { threads: 2, idle_timeout: 1 }, LOGGING: { level: 'silent' } });
let runner: ServiceRunner;
let client: ClusterClient;

async function burst(n: number): Promise<Answer[]> {
  const answers = (await Promise.all(Array.from({ length: n }, (_, i) => client.onnx_threads!.classify(cases[i % cases.length]!.input)))) as Answer[];
  answers.forEach((a, i) => expect(a.label, `call ${i}`).toBe(cases[i % cases.length]!.label));
  return answers;
}

beforeAll(async () => {
  runner = new ServiceRunner(config);
  runner.add(OnnxThreads);
  await runner.start();
  client = await ClusterRpcProxy.connect(config, { timeoutMs: 30_000 });
});

afterAll(async () => {
  await client?.close();
  await runner?.stop();
});

describe('ONNX sessions in pool threads', () => {
  it('every pool thread runs its own session at the same time, each created once', async () => {
    const answers = await burst(400);
    const threads = new Set(answers.map((a) => a.threadId));
    expect(threads.size).toBe(2);
    expect(answers.every((a) => a.sessions === 1)).toBe(true);
    expect(Math.max(...answers.map((a) => a.batch))).toBeGreaterThan(1);
  }, 60_000);

  it('a thread that ended on idle is replaced by one with a session of its own', async () => {
    const before = new Set((await burst(200)).map((a) => a.threadId));
    // POOL.idle_timeout is 1 s: the thread beyond the first ends; a new burst starts a new one.
    await new Promise((r) => setTimeout(r, 2_500));
    const after = await burst(400);
    const fresh = after.filter((a) => !before.has(a.threadId));
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.every((a) => a.sessions === 1)).toBe(true);
  }, 60_000);

  it('a crashed thread fails its own call only, and the next calls get a new thread and session', async () => {
    await expect(client.onnx_threads!.crash()).rejects.toMatchObject({ message: expect.stringMatching(/died|exit/i) });
    const answers = await burst(100);
    expect(answers.every((a) => a.sessions === 1)).toBe(true);
  }, 60_000);

  it('a graceful stop while batches run answers every call it took; the rest wait in the queue for the next instance', async () => {
    const inFlight = Promise.allSettled(Array.from({ length: 120 }, (_, i) => client.onnx_threads!.classify(cases[i % cases.length]!.input)));
    await new Promise((r) => setTimeout(r, 5));
    const stopped = runner.stop();
    // What the stopping instance took (up to max_workers, 64) it answers; what it had not
    // taken stays queued, and a new instance answers it: nothing lost.
    await stopped;
    runner = new ServiceRunner(config);
    runner.add(OnnxThreads);
    await runner.start();
    const settled = await inFlight;
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    settled.forEach((s, i) => expect((s as PromiseFulfilledResult<Answer>).value.label).toBe(cases[i % cases.length]!.label));
  }, 60_000);
});
