// The example InferenceService end to end: real RabbitMQ (a vhost of this file's own), the
// real worker pool (2 threads), the real HTTP server on an ephemeral port. Predictions must
// match services/inference/expected.json over RPC and over HTTP; the model must load once
// per pool thread, never per call; bad input must come back as the caller's error.

import { readFileSync } from 'node:fs';
import { threadId as mainThreadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, RemoteError, ServiceRunner, webServerAddress, type ClusterClient } from 'enoki';
import { InferenceService } from '../services/inference/inference.js';
import { createVhost, type TestVhost } from './support/vhost.js';

interface Case {
  datasetIndex: number;
  input: number[];
  label: number;
  probabilities: number[];
}
interface Prediction {
  labels: number[];
  probabilities: number[][];
}
interface ModelInfo {
  threadId: number;
  loads: number;
}

const { cases } = JSON.parse(readFileSync(new URL('../services/inference/expected.json', import.meta.url), 'utf8')) as { cases: Case[] };
const batch = cases.map((c) => c.input);
const THREADS = 2;

let vhost: TestVhost;
let runner: ServiceRunner;
let client: ClusterClient;
let base: string;

beforeAll(async () => {
  vhost = createVhost('inference');
  const config = loadConfig({
    AMQP_URI: vhost.uri,
    WEB_SERVER_ADDRESS: '127.0.0.1:0',
    // idle_timeout long enough that no thread retires (and a new one reloads) mid-test.
    POOL: { threads: THREADS, idle_timeout: 600 },
    LOGGING: { level: 'silent' },
  });
  runner = new ServiceRunner(config);
  runner.add(InferenceService);
  await runner.start();
  base = webServerAddress(config)!.url;
  // Generous: the machine is shared, and a batch of 256 is tens of ms per call.
  client = await ClusterRpcProxy.connect(config, { timeoutMs: 30_000 });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await runner?.stop();
  vhost?.remove();
});

/** Labels exactly; every probability within 1e-6 of the saved model's (expected.json has 6 decimals). */
function expectMatchesSaved(prediction: Prediction): void {
  expect(prediction.labels).toEqual(cases.map((c) => c.label));
  expect(prediction.probabilities).toHaveLength(cases.length);
  prediction.probabilities.forEach((row, r) => {
    expect(row).toHaveLength(10);
    row.forEach((p, k) => {
      const want = cases[r]!.probabilities[k]!;
      if (Math.abs(p - want) > 1e-6) throw new Error(`case ${r} (dataset ${cases[r]!.datasetIndex}) class ${k}: got ${p}, saved ${want}`);
    });
  });
}

async function postPredict(body: unknown): Promise<Response> {
  return fetch(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('InferenceService over RPC', () => {
  it('predicts the saved labels and probabilities', async () => {
    expectMatchesSaved((await client.inference.predict(batch)) as Prediction);
  });

  it('answers a batch of one as a batch', async () => {
    const out = (await client.inference.predict([cases[2]!.input])) as Prediction;
    expect(out.labels).toEqual([cases[2]!.label]);
  });

  it('refuses bad input with InvalidModelInput, the caller’s error', async () => {
    // One image where a batch is wanted: the usual mistake, and the hint says so.
    const err = await client.inference.predict(cases[0]!.input as never).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toMatchObject({ excType: 'InvalidModelInput' });
    expect((err as RemoteError).value).toMatch(/row 0.*wrap a single image/);
    await expect(client.inference.predict([[1, 2, 3]])).rejects.toMatchObject({ excType: 'InvalidModelInput', value: expect.stringMatching(/784 values, got 3/) });
  });
});

describe('InferenceService over HTTP', () => {
  it('POST /predict predicts the same', async () => {
    const res = await postPredict({ inputs: batch });
    expect(res.status).toBe(200);
    expectMatchesSaved((await res.json()) as Prediction);
  });

  it('bad input is a 400 naming the problem', async () => {
    const missing = await postPredict({ images: batch });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toMatch(/InvalidModelInput/);
    const short = await postPredict({ inputs: [[0.5, 0.5]] });
    expect(short.status).toBe(400);
    expect(await short.text()).toMatch(/InvalidModelInput.*784 values, got 2/);
  });
});

describe('the model', () => {
  it('loads once per pool thread, not once per call', async () => {
    // Enough concurrent work that both threads are busy (the pool starts its second
    // thread on demand), then ask each thread how often it loaded the model.
    const predictions = await Promise.all(Array.from({ length: 50 }, () => client.inference.predict(batch)));
    expect(predictions).toHaveLength(50);
    for (const p of predictions.slice(0, 3)) expectMatchesSaved(p as Prediction);

    const infos = (await Promise.all(Array.from({ length: 40 }, () => client.inference.model_info()))) as ModelInfo[];
    const threads = new Map<number, number[]>();
    for (const { threadId, loads } of infos) threads.set(threadId, [...(threads.get(threadId) ?? []), loads]);

    // Every answer came from a pool thread (never the main thread, whose threadId is 0)...
    expect([...threads.keys()].every((id) => id !== mainThreadId && id > 0)).toBe(true);
    // ...from at most POOL.threads of them...
    expect(threads.size).toBeGreaterThanOrEqual(1);
    expect(threads.size).toBeLessThanOrEqual(THREADS);
    // ...and each had loaded the model exactly once, after 50 predictions and 40 infos.
    for (const [id, loads] of threads) expect({ id, loads: [...new Set(loads)] }).toEqual({ id, loads: [1] });
  });
});
