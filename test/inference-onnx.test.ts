// The ONNX export of the inference example's model: the checked-in model.onnx is exactly
// what scripts/export-onnx.ts makes from model.json, and ONNX Runtime's outputs equal the
// JS model's within 1e-5 on every held-out image, so the accuracy is the same.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../scripts/export-onnx.js';
import { loadMnist, MODEL_PATH, splitIndices } from '../scripts/train-model.js';
import { InvalidModelInput, loadModel, type ModelWeights } from '../services/inference/model.js';
import { loadOnnxModel, type OnnxModel } from '../services/inference/onnx-model.js';

const ONNX_PATH = fileURLToPath(new URL('../services/inference/model.onnx', import.meta.url));
const js = loadModel(MODEL_PATH);
let onnx: OnnxModel;

beforeAll(async () => {
  onnx = await loadOnnxModel(ONNX_PATH);
});
afterAll(async () => onnx?.release());

describe('model.onnx', () => {
  it('is what scripts/export-onnx.ts exports from model.json, byte for byte', () => {
    const weights = JSON.parse(readFileSync(MODEL_PATH, 'utf8')) as ModelWeights;
    expect(Buffer.compare(readFileSync(ONNX_PATH), Buffer.from(exportOnnx(weights)))).toBe(0);
  });

  it('reads its classes and input width from the file', () => {
    expect(onnx.classes).toEqual(js.classes);
    expect(onnx.inputSize).toBe(js.inputSize);
  });

  it('matches the JS model within 1e-5 on the whole held-out set, with the same accuracy', async () => {
    const data = loadMnist();
    const meta = js.metadata as { heldOutAccuracy: number; split: { seed: number } };
    const { test } = splitIndices(data.labels, meta.split.seed);
    const batch = test.map((i) => data.rows[i]!);
    const want = js.predict(batch);
    const got = await onnx.predict(batch);
    let worst = 0;
    got.probabilities.forEach((row, r) => row.forEach((p, k) => (worst = Math.max(worst, Math.abs(p - want.probabilities[r]![k]!)))));
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(got.labels).toEqual(want.labels);
    const correct = got.labels.filter((label, r) => label === data.labels[test[r]!]).length;
    expect(correct / test.length).toBe(meta.heldOutAccuracy);
  });

  it('refuses bad input as the JS model does', async () => {
    await expect(onnx.predict([[1, 2, 3]])).rejects.toBeInstanceOf(InvalidModelInput);
    await expect(onnx.predict([])).resolves.toEqual({ labels: [], probabilities: [] });
  });
});
