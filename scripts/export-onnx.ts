// Exports the inference example's trained MLP (services/inference/model.json) to ONNX
// (services/inference/model.onnx), so ONNX Runtime can serve it: the format data scientists'
// tools export, loaded here the way a team would load theirs.
//
//     npx tsx scripts/export-onnx.ts            # rewrites services/inference/model.onnx
//     npx tsx scripts/export-onnx.ts --check    # exits 1 if the checked-in file differs
//
// No Python and no download: the ModelProto is built with onnx-proto (ONNX's own .proto
// schema compiled for protobufjs). The graph is the JS model's arithmetic, op for op:
//
//   image [batch, 784] -> Sub(mean) -> Mul(1/std) -> (MatMul W + Add b -> Relu) x2
//                      -> MatMul W + Add b -> Softmax(axis 1) -> probabilities [batch, 10]
//
// Weights are stored as float32 (ONNX Runtime's CPU kernels); test/inference-onnx.test.ts
// holds the outputs to the float64 JS model's within 1e-5 on the whole held-out set.
// The output is deterministic (no timestamps), so --check can compare bytes.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import onnxProto, { type onnx } from 'onnx-proto';
import type { ModelWeights } from '../services/inference/model.js';

const MODEL_JSON = fileURLToPath(new URL('../services/inference/model.json', import.meta.url));
const MODEL_ONNX = fileURLToPath(new URL('../services/inference/model.onnx', import.meta.url));
/** ONNX opset: every op used here is unchanged since opset 13; 17 is widely supported. */
const OPSET = 17;
/** IR version 8 goes with opset 17. */
const IR_VERSION = 8;

// A CommonJS module whose exports Node cannot name statically: the values come from its
// default export; `onnx` above is only the namespace of its types.
const proto = onnxProto.onnx;
const FLOAT = proto.TensorProto.DataType.FLOAT;

function tensor(name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  const data = Float32Array.from(values);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`${name}: ${data.length} values for dims ${dims.join('x')}`);
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Row-major `rows x cols` to row-major `cols x rows`: model.json keeps W as out x in, MatMul wants in x out. */
function transpose(values: readonly number[], rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

function valueInfo(name: string, dims: Array<number | string>): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** The ONNX model bytes for the weights in model.json. */
export function exportOnnx(weights: ModelWeights): Uint8Array {
  const initializer: onnx.ITensorProto[] = [
    tensor('mean', [weights.inputSize], weights.normalization.mean),
    tensor('inv_std', [weights.inputSize], weights.normalization.std.map((s) => 1 / s)),
  ];
  const node: onnx.INodeProto[] = [
    { opType: 'Sub', input: ['image', 'mean'], output: ['centred'], name: 'centre' },
    { opType: 'Mul', input: ['centred', 'inv_std'], output: ['x0'], name: 'scale' },
  ];
  let input = 'x0';
  weights.layers.forEach((layer, i) => {
    initializer.push(tensor(`w${i}`, [layer.inputSize, layer.outputSize], transpose(layer.weights, layer.outputSize, layer.inputSize)));
    initializer.push(tensor(`b${i}`, [layer.outputSize], layer.bias));
    node.push({ opType: 'MatMul', input: [input, `w${i}`], output: [`mm${i}`], name: `matmul${i}` });
    const summed = `z${i}`;
    node.push({ opType: 'Add', input: [`mm${i}`, `b${i}`], output: [summed], name: `bias${i}` });
    if (layer.activation === 'relu') {
      node.push({ opType: 'Relu', input: [summed], output: [`x${i + 1}`], name: `relu${i}` });
      input = `x${i + 1}`;
    } else {
      node.push({
        opType: 'Softmax',
        input: [summed],
        output: ['probabilities'],
        name: 'softmax',
        attribute: [{ name: 'axis', type: proto.AttributeProto.AttributeType.INT, i: 1 }],
      });
    }
  });
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'enoki scripts/export-onnx.ts',
    producerVersion: '1',
    docString: 'MNIST MLP 784-64-32-10 from services/inference/model.json (see services/inference/README.md)',
    metadataProps: [
      { key: 'classes', value: JSON.stringify(weights.classes) },
      { key: 'source', value: 'services/inference/model.json' },
      { key: 'heldOutAccuracy', value: String((weights.metadata as { heldOutAccuracy?: unknown }).heldOutAccuracy ?? '') },
    ],
    graph: {
      name: 'mnist_mlp',
      node,
      initializer,
      input: [valueInfo('image', ['batch', weights.inputSize])],
      output: [valueInfo('probabilities', ['batch', weights.classes.length])],
    },
  };
  return proto.ModelProto.encode(proto.ModelProto.create(model)).finish();
}

// Only when run as a script; the test imports exportOnnx to compare with the checked-in file.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const weights = JSON.parse(readFileSync(MODEL_JSON, 'utf8')) as ModelWeights;
  const bytes = exportOnnx(weights);
  if (process.argv.includes('--check')) {
    const current = readFileSync(MODEL_ONNX);
    const same = Buffer.compare(current, Buffer.from(bytes)) === 0;
    console.log(same ? `model.onnx is up to date (${bytes.length} bytes)` : 'model.onnx differs from what model.json exports: run npx tsx scripts/export-onnx.ts');
    process.exitCode = same ? 0 : 1;
  } else {
    writeFileSync(MODEL_ONNX, bytes);
    console.log(`wrote ${MODEL_ONNX} (${bytes.length} bytes, opset ${OPSET})`);
  }
}
