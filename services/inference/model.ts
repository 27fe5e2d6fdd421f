// The inference service's model: a small multi-layer perceptron over 28×28 MNIST digits,
// evaluated in plain TypeScript loops. The loops are deliberately straightforward (no
// SIMD, no WASM, no native addon): the point of this example is that a batch costs real,
// predictable CPU time, which is what `@cpuBound` moves off the event loop.
//
// Weights come from `model.json`, written by scripts/train-model.ts. This file only reads
// them; it has no training code, so it can be loaded inside a pool thread cheaply.

import { readFileSync } from 'node:fs';
import { ExpectedError } from 'enoki';

/** One fully connected layer: `out = activation(W · in + b)`. */
export interface LayerWeights {
  readonly inputSize: number;
  readonly outputSize: number;
  /** `relu` for hidden layers; `softmax` for the last one. */
  readonly activation: 'relu' | 'softmax';
  /** Row-major `outputSize × inputSize`: row j holds the weights into output j. */
  readonly weights: readonly number[];
  readonly bias: readonly number[];
}

/** The JSON layout of `model.json`. */
export interface ModelWeights {
  readonly format: 'enoki-mlp/1';
  readonly inputSize: number;
  readonly classes: readonly string[];
  /** Inputs are standardised as `(x - mean) / std` before the first layer. */
  readonly normalization: { readonly mean: readonly number[]; readonly std: readonly number[] };
  readonly layers: readonly LayerWeights[];
  /** Provenance: data set, split, seed, accuracy... Free-form; not read by inference. */
  readonly metadata: Record<string, unknown>;
}

export interface Prediction {
  /** Index into `Model.classes` of the most probable class, one per input row. */
  labels: number[];
  /** Softmax output, one row of `classes.length` probabilities per input row. */
  probabilities: number[][];
}

/** The caller sent a batch the model cannot take; their fault, so an ExpectedError. */
export class InvalidModelInput extends ExpectedError {}

/** `model.json` is missing, unreadable or has the wrong shape. */
export class ModelFileError extends Error {
  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super(`model file ${path}: ${problem}`, options);
  }

  override get name(): string {
    return 'ModelFileError';
  }
}

interface Layer {
  readonly inputSize: number;
  readonly outputSize: number;
  readonly relu: boolean;
  readonly weights: Float64Array;
  readonly bias: Float64Array;
}

export class Model {
  readonly inputSize: number;
  readonly classes: string[];
  readonly metadata: Readonly<Record<string, unknown>>;
  private readonly mean: Float64Array;
  // Stored as 1/std so the per-pixel work is a multiply, as in the trainer.
  private readonly invStd: Float64Array;
  private readonly layers: readonly Layer[];
  private readonly widest: number;

  /** Use `loadModel`; this trusts that `weights` has already been validated. */
  constructor(weights: ModelWeights) {
    this.inputSize = weights.inputSize;
    this.classes = [...weights.classes];
    this.metadata = weights.metadata;
    this.mean = Float64Array.from(weights.normalization.mean);
    this.invStd = Float64Array.from(weights.normalization.std, (s) => 1 / s);
    this.layers = weights.layers.map((l) => ({
      inputSize: l.inputSize,
      outputSize: l.outputSize,
      relu: l.activation === 'relu',
      weights: Float64Array.from(l.weights),
      bias: Float64Array.from(l.bias),
    }));
    this.widest = Math.max(this.inputSize, ...this.layers.map((l) => l.outputSize));
  }

  /**
   * Classify each row of `batch` (each a flat array of `inputSize` pixel values in [0, 1]).
   * Throws InvalidModelInput naming the first bad row before doing any work.
   */
  predict(batch: number[][]): Prediction {
    validateBatch(batch, this.inputSize);
    const labels: number[] = [];
    const probabilities: number[][] = [];
    // Two ping-pong buffers sized for the widest layer, reused across rows and layers.
    let cur = new Float64Array(this.widest);
    let next = new Float64Array(this.widest);
    for (const row of batch) {
      for (let i = 0; i < this.inputSize; i++) cur[i] = (row[i]! - this.mean[i]!) * this.invStd[i]!;
      for (const layer of this.layers) {
        forwardLayer(layer, cur, next);
        const t = cur;
        cur = next;
        next = t;
      }
      const probs = softmax(cur, this.classes.length);
      let best = 0;
      for (let k = 1; k < probs.length; k++) if (probs[k]! > probs[best]!) best = k;
      labels.push(best);
      probabilities.push(probs);
    }
    return { labels, probabilities };
  }

}

/**
 * Checks a batch before any work: an array of rows of `inputSize` finite numbers. Throws
 * InvalidModelInput naming the first bad row. Shared by the JS model and the ONNX one.
 */
export function validateBatch(batch: unknown, inputSize: number): asserts batch is number[][] {
  if (!Array.isArray(batch)) {
    throw new InvalidModelInput(`batch must be an array of rows, got ${describe(batch)}`);
  }
  for (let r = 0; r < batch.length; r++) {
    const row: unknown = batch[r];
    if (!Array.isArray(row)) {
      // The usual cause is one image passed where a batch is wanted; say so.
      const hint = typeof row === 'number' ? ' (predict takes a batch: wrap a single image as [image])' : '';
      throw new InvalidModelInput(`row ${r}: expected an array of ${inputSize} numbers, got ${describe(row)}${hint}`);
    }
    if (row.length !== inputSize) {
      throw new InvalidModelInput(`row ${r}: expected ${inputSize} values, got ${row.length}`);
    }
    for (let i = 0; i < row.length; i++) {
      const v: unknown = row[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new InvalidModelInput(`row ${r}, value ${i}: expected a finite number, got ${describe(v)}`);
      }
    }
  }
}

/** `out[j] = act(bias[j] + Σ_i W[j,i]·in[i])`, the honest O(in×out) inner loop. */
function forwardLayer(layer: Layer, input: Float64Array, out: Float64Array): void {
  const { inputSize, outputSize, weights, bias, relu } = layer;
  for (let j = 0; j < outputSize; j++) {
    let sum = bias[j]!;
    const base = j * inputSize;
    for (let i = 0; i < inputSize; i++) sum += weights[base + i]! * input[i]!;
    out[j] = relu && sum < 0 ? 0 : sum;
  }
}

/** Softmax over the first `n` logits, shifted by the max so large logits cannot overflow. */
function softmax(logits: Float64Array, n: number): number[] {
  let max = -Infinity;
  for (let k = 0; k < n; k++) if (logits[k]! > max) max = logits[k]!;
  const out = new Array<number>(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const e = Math.exp(logits[k]! - max);
    out[k] = e;
    total += e;
  }
  for (let k = 0; k < n; k++) out[k] = out[k]! / total;
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v);
  return typeof v;
}

/** Read and validate a weights file written by scripts/train-model.ts. */
export function loadModel(path: string): Model {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ModelFileError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ModelFileError(path, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return new Model(checkWeights(path, parsed));
}

/**
 * Check every shape against every other before any Float64Array is built, so a truncated
 * or hand-edited file fails here with the field at fault rather than as NaN predictions.
 */
export function checkWeights(path: string, value: unknown): ModelWeights {
  const fail = (problem: string): never => {
    throw new ModelFileError(path, problem);
  };
  if (typeof value !== 'object' || value === null) fail('top level must be an object');
  const w = value as Record<string, unknown>;
  if (w.format !== 'enoki-mlp/1') fail(`format must be "enoki-mlp/1", got ${describe(w.format)}`);
  const inputSize = w.inputSize;
  if (!Number.isInteger(inputSize) || (inputSize as number) <= 0) fail(`inputSize must be a positive integer, got ${describe(inputSize)}`);
  const n = inputSize as number;

  const classes = w.classes;
  if (!Array.isArray(classes) || classes.length < 2 || !classes.every((c) => typeof c === 'string')) {
    fail('classes must be an array of at least 2 strings');
  }

  const norm = w.normalization as Record<string, unknown> | undefined;
  if (typeof norm !== 'object' || norm === null) fail('normalization is missing');
  checkNumbers(fail, 'normalization.mean', norm!.mean, n);
  checkNumbers(fail, 'normalization.std', norm!.std, n);
  if ((norm!.std as number[]).some((s) => s <= 0)) fail('normalization.std must be > 0 everywhere');

  const layers = w.layers;
  if (!Array.isArray(layers) || layers.length === 0) fail('layers must be a non-empty array');
  let expectedIn = n;
  (layers as unknown[]).forEach((raw, idx) => {
    const name = `layers[${idx}]`;
    if (typeof raw !== 'object' || raw === null) fail(`${name} must be an object`);
    const l = raw as Record<string, unknown>;
    const last = idx === (layers as unknown[]).length - 1;
    if (l.inputSize !== expectedIn) fail(`${name}.inputSize must be ${expectedIn} (the previous layer's output), got ${describe(l.inputSize)}`);
    if (!Number.isInteger(l.outputSize) || (l.outputSize as number) <= 0) fail(`${name}.outputSize must be a positive integer, got ${describe(l.outputSize)}`);
    const wantAct = last ? 'softmax' : 'relu';
    if (l.activation !== wantAct) fail(`${name}.activation must be "${wantAct}", got ${describe(l.activation)}`);
    checkNumbers(fail, `${name}.weights`, l.weights, expectedIn * (l.outputSize as number));
    checkNumbers(fail, `${name}.bias`, l.bias, l.outputSize as number);
    expectedIn = l.outputSize as number;
  });
  if (expectedIn !== (classes as string[]).length) {
    fail(`the last layer has ${expectedIn} outputs but there are ${(classes as string[]).length} classes`);
  }
  if (typeof w.metadata !== 'object' || w.metadata === null) fail('metadata must be an object');
  return w as unknown as ModelWeights;
}

function checkNumbers(fail: (problem: string) => never, name: string, value: unknown, length: number): void {
  if (!Array.isArray(value)) fail(`${name} must be an array of ${length} numbers, got ${describe(value)}`);
  const arr = value as unknown[];
  if (arr.length !== length) fail(`${name} must have ${length} values, got ${arr.length}`);
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${name}[${i}] must be a finite number, got ${describe(v)}`);
  }
}
