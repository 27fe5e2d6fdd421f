// The example inference service's model: the saved weights load, reproduce the outputs
// recorded when they were trained, score the recorded held-out accuracy on the same split,
// and reject bad input and bad files with messages that say what is wrong and where.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidModelInput, loadModel, ModelFileError } from '../services/inference/model.js';
import { accuracy, EXPECTED_PATH, loadMnist, MODEL_PATH, splitIndices } from '../scripts/train-model.js';
import { ExpectedError } from '../src/errors.js';

interface ExpectedCase {
  datasetIndex: number;
  trueLabel: number;
  input: number[];
  label: number;
  probabilities: number[];
}

const expected = JSON.parse(readFileSync(EXPECTED_PATH, 'utf8')) as { cases: ExpectedCase[] };
const model = loadModel(MODEL_PATH);

describe('saved model', () => {
  it('loads with the shape the service relies on', () => {
    expect(model.inputSize).toBe(784);
    expect(model.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('reproduces the expected labels and probabilities on the fixed inputs', () => {
    expect(expected.cases.length).toBeGreaterThanOrEqual(5);
    const out = model.predict(expected.cases.map((c) => c.input));
    expect(out.labels).toEqual(expected.cases.map((c) => c.label));
    out.probabilities.forEach((probs, r) => {
      const want = expected.cases[r]!.probabilities;
      expect(probs).toHaveLength(want.length);
      probs.forEach((p, k) => expect(Math.abs(p - want[k]!), `row ${r} class ${k}`).toBeLessThanOrEqual(1e-6));
      expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    });
  });

  it('predicts each row independently of the rest of the batch', () => {
    const batch = expected.cases.map((c) => c.input);
    const together = model.predict(batch);
    batch.forEach((row, r) => {
      expect(model.predict([row]).probabilities[0]).toEqual(together.probabilities[r]);
    });
    expect(model.predict([])).toEqual({ labels: [], probabilities: [] });
  });

  it('scores the recorded held-out accuracy on the recorded split', () => {
    const data = loadMnist();
    const meta = model.metadata as { heldOutAccuracy: number; split: { seed: number; test: number } };
    const { test } = splitIndices(data.labels, meta.split.seed);
    expect(test).toHaveLength(meta.split.test);
    // The fixed inputs are held-out rows, so they never leaked into training.
    const testSet = new Set(test);
    for (const c of expected.cases) {
      expect(testSet.has(c.datasetIndex)).toBe(true);
      expect(data.rows[c.datasetIndex]).toEqual(c.input);
    }
    const acc = accuracy(model, data, test);
    expect(acc).toBe(meta.heldOutAccuracy);
    expect(acc).toBeGreaterThan(0.9);
  });
});

describe('bad input', () => {
  const good = expected.cases[0]!.input;

  it('names the row and the expected size when a row is the wrong length', () => {
    const run = (): unknown => model.predict([good, good.slice(0, 100)]);
    expect(run).toThrow(InvalidModelInput);
    expect(run).toThrow('row 1: expected 784 values, got 100');
  });

  it('names the row and position of a value that is not a finite number', () => {
    const bad = [...good];
    (bad as unknown[])[5] = 'x';
    expect(() => model.predict([good, good, bad])).toThrow('row 2, value 5: expected a finite number, got "x"');
    bad[5] = Number.NaN;
    expect(() => model.predict([bad])).toThrow('row 0, value 5: expected a finite number, got NaN');
  });

  it('rejects a batch that is not an array of rows', () => {
    expect(() => model.predict(good as unknown as number[][])).toThrow(
      'row 0: expected an array of 784 numbers, got 0 (predict takes a batch: wrap a single image as [image])',
    );
    expect(() => model.predict({} as unknown as number[][])).toThrow('batch must be an array of rows, got object');
  });

  it('is an ExpectedError, since the caller is at fault', () => {
    expect(() => model.predict([[1, 2, 3]])).toThrow(ExpectedError);
  });
});

describe('bad weights file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'enoki-model-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const saved = JSON.parse(readFileSync(MODEL_PATH, 'utf8')) as Record<string, unknown> & { layers: Record<string, unknown>[] };

  function writeVariant(name: string, value: unknown): string {
    const path = join(dir, name);
    writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
    return path;
  }

  it('names the file and the layer whose weights have the wrong shape', () => {
    const layers = saved.layers.map((l, i) => (i === 1 ? { ...l, weights: (l.weights as number[]).slice(1) } : l));
    const path = writeVariant('short.json', { ...saved, layers });
    expect(() => loadModel(path)).toThrow(ModelFileError);
    expect(() => loadModel(path)).toThrow(`model file ${path}: layers[1].weights must have 2048 values, got 2047`);
  });

  it('names the file when layers do not chain or do not end in one output per class', () => {
    const unchained = saved.layers.map((l, i) => (i === 2 ? { ...l, inputSize: 16 } : l));
    const p1 = writeVariant('unchained.json', { ...saved, layers: unchained });
    expect(() => loadModel(p1)).toThrow(`model file ${p1}: layers[2].inputSize must be 32 (the previous layer's output), got 16`);
    const p2 = writeVariant('classes.json', { ...saved, classes: ['a', 'b'] });
    expect(() => loadModel(p2)).toThrow(`model file ${p2}: the last layer has 10 outputs but there are 2 classes`);
  });

  it('names the file when the normalisation is the wrong size', () => {
    const path = writeVariant('norm.json', { ...saved, normalization: { mean: [0], std: [1] } });
    expect(() => loadModel(path)).toThrow(`model file ${path}: normalization.mean must have 784 values, got 1`);
  });

  it('names the file when it is missing or not JSON', () => {
    const missing = join(dir, 'nope.json');
    expect(() => loadModel(missing)).toThrow(`model file ${missing}: cannot read`);
    const path = writeVariant('garbage.json', '{"format": ');
    expect(() => loadModel(path)).toThrow(`model file ${path}: not valid JSON`);
  });
});
