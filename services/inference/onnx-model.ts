// The inference example's model, run by ONNX Runtime: the same MLP as model.ts, exported
// to model.onnx by scripts/export-onnx.ts. One session per thread that loads it: in the
// service, once per pool thread (a static promise), never per call.
//
// Threads: the pool already runs one task per core (POOL.threads defaults to the core
// count), so each session computes on its own thread only (intraOpNumThreads and
// interOpNumThreads 1). ONNX Runtime's default would start a thread per core in every
// session: pool threads × cores threads fighting over the same cores. Pass a larger
// `intraOpNumThreads` only when the pool is smaller than the machine (threads × intra-op
// threads ≤ cores).

import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { validateBatch, type Prediction } from './model.js';

/** Options for {@link loadOnnxModel}. */
export interface OnnxModelOptions {
  /** Threads one inference may use (default 1: the pool supplies the parallelism). */
  intraOpNumThreads?: number;
}

/** An ONNX Runtime session for the MNIST MLP, with the JS model's `predict` contract. */
export class OnnxModel {
  readonly inputSize: number;
  readonly classes: readonly string[];

  constructor(
    private readonly session: InferenceSession,
    inputSize: number,
    classes: readonly string[],
  ) {
    this.inputSize = inputSize;
    this.classes = classes;
  }

  /** Same contract as `Model.predict`: rows of `inputSize` values in [0, 1] → labels and probabilities. */
  async predict(batch: number[][]): Promise<Prediction> {
    validateBatch(batch, this.inputSize);
    if (batch.length === 0) return { labels: [], probabilities: [] };
    const input = new Float32Array(batch.length * this.inputSize);
    batch.forEach((row, r) => input.set(row, r * this.inputSize));
    const outputs = await this.session.run({ image: new Tensor('float32', input, [batch.length, this.inputSize]) });
    const probs = outputs.probabilities!.data as Float32Array;
    const k = this.classes.length;
    const labels: number[] = [];
    const probabilities: number[][] = [];
    for (let r = 0; r < batch.length; r++) {
      const row = Array.from(probs.subarray(r * k, (r + 1) * k));
      let best = 0;
      for (let j = 1; j < k; j++) if (row[j]! > row[best]!) best = j;
      labels.push(best);
      probabilities.push(row);
    }
    return { labels, probabilities };
  }

  /** Releases the session's native memory. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Loads model.onnx; its class names come from the model's own metadata. */
export async function loadOnnxModel(path: string, options: OnnxModelOptions = {}): Promise<OnnxModel> {
  const threads = options.intraOpNumThreads ?? 1;
  const bytes = readFileSync(path);
  const { classes, inputSize } = describeModel(bytes, path);
  const session = await InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  return new OnnxModel(session, inputSize, classes);
}

/**
 * The class names (the `classes` metadata property scripts/export-onnx.ts writes) and the
 * input width (the graph input's second dimension), read from the model file itself:
 * onnxruntime-node does not expose a model's metadata properties.
 */
function describeModel(bytes: Uint8Array, path: string): { classes: string[]; inputSize: number } {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const classesProp = model.metadataProps.find((p) => p.key === 'classes')?.value;
  const dims = model.graph?.input?.[0]?.type?.tensorType?.shape?.dim ?? [];
  const inputSize = Number(dims[1]?.dimValue ?? NaN);
  const classes: unknown = classesProp ? JSON.parse(classesProp) : undefined;
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string') || !Number.isInteger(inputSize) || inputSize <= 0) {
    throw new Error(`${path}: not a model written by scripts/export-onnx.ts (no classes metadata or input width)`);
  }
  return { classes, inputSize };
}
