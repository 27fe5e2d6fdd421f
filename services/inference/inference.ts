// InferenceService: a real model served over RPC and HTTP. The model loads once per
// thread that imports this module (a static field), never per call; predictions run in
// the worker pool (@cpuBound), so a batch of 256 (tens of ms of CPU) never delays the
// AMQP heartbeat or a `hello` on the same process.
//
// Two runtimes for the same MLP: `predict` evaluates it in plain TypeScript (model.ts);
// `classify` runs the ONNX export (model.onnx) in ONNX Runtime, one session per pool
// thread, with concurrent single-image calls gathered into batches (@batched).

import { readFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { batched, cpuBound, http, response, rpc, type HttpRequest } from 'enoki';
import { InvalidModelInput, loadModel, type Prediction } from './model.js';
import { loadOnnxModel, type OnnxModel } from './onnx-model.js';

const MODEL_PATH = new URL('./model.json', import.meta.url).pathname;
const ONNX_PATH = new URL('./model.onnx', import.meta.url).pathname;
const PAGE_PATH = new URL('./page.html', import.meta.url).pathname;

/** One image's answer from `classify`. */
export interface Classification {
  /** The most probable class name ('0'..'9'). */
  digit: string;
  /** One probability per class, in class order. */
  probabilities: number[];
}

/**
 * This thread's ONNX session, made on first use: in a pool thread, once for every call
 * it serves; never on the main thread, which only routes calls.
 */
let onnxModel: Promise<OnnxModel> | undefined;
function onnx(): Promise<OnnxModel> {
  onnxModel ??= loadOnnxModel(ONNX_PATH);
  return onnxModel;
}

/** One 784-value image per call, as the classify methods take it; anything else fails that call only. */
function imageOrError(image: unknown): number[] | Error {
  if (!Array.isArray(image) || image.length !== 784 || !image.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    return new InvalidModelInput('an image is an array of 784 numbers in [0, 1] (28×28, row by row)');
  }
  return image as number[];
}

/** Runs the valid images of a batch as one session run; invalid ones answer with their error. */
async function classifyBatch(images: unknown[]): Promise<Array<Classification | Error>> {
  const checked = images.map(imageOrError);
  const valid = checked.filter((x): x is number[] => !(x instanceof Error));
  const model = await onnx();
  const { labels, probabilities } = await model.predict(valid);
  let next = 0;
  return checked.map((x) => {
    if (x instanceof Error) return x;
    const i = next++;
    return { digit: model.classes[labels[i]!]!, probabilities: probabilities[i]! };
  });
}

/** How many times this thread loaded the model: 1, whatever the number of calls. */
let loadsInThisThread = 0;

export class InferenceService {
  static name = 'inference';

  static model = (() => {
    loadsInThisThread++;
    return loadModel(MODEL_PATH);
  })();

  /** Classify a batch of 28×28 grey-level images (784 numbers in [0, 1] each). */
  @rpc
  @cpuBound
  predict(batch: number[][]): Prediction {
    return InferenceService.model.predict(batch);
  }

  /** POST /predict with `{"inputs": [[...784 numbers], ...]}`. */
  @http('POST', '/predict')
  @cpuBound
  predict_http(req: HttpRequest<{ inputs?: unknown }>) {
    const inputs = req.body?.inputs;
    if (!Array.isArray(inputs)) throw new InvalidModelInput('body must be JSON {"inputs": [[784 numbers], ...]}');
    const { labels, probabilities } = InferenceService.model.predict(inputs as number[][]);
    return { labels, probabilities };
  }

  /**
   * Classify one 28×28 image (784 grey levels in [0, 1]) with the ONNX model. Callers send
   * one image; concurrent calls run as one batch of up to 64 in one pool task.
   */
  @rpc
  @batched({ maxBatch: 64, maxDelayMs: 2 })
  @cpuBound
  classify(images: unknown[]): Promise<Array<Classification | Error>> {
    return classifyBatch(images);
  }

  /** POST /classify with `{"image": [784 numbers]}`: the page's endpoint, batched like `classify`. */
  @http('POST', '/classify')
  @batched({ maxBatch: 64, maxDelayMs: 2 })
  @cpuBound
  classify_http(requests: Array<HttpRequest<{ image?: unknown }>>): Promise<Array<Classification | Error>> {
    return classifyBatch(requests.map((r) => r.body?.image));
  }

  /** GET /: a page where a person draws a digit and sees what the model reads. */
  @http('GET', '/')
  page() {
    InferenceService.pageHtml ??= readFileSync(PAGE_PATH, 'utf8');
    return response(200, InferenceService.pageHtml, { 'content-type': 'text/html; charset=utf-8' });
  }

  /** The page, read once per process. */
  static pageHtml: string | undefined;

  /** Which thread answered and how often it has loaded the model (for the tests and the bench). */
  @rpc
  @cpuBound
  model_info() {
    return { threadId, loads: loadsInThisThread, classes: InferenceService.model.classes, inputSize: InferenceService.model.inputSize };
  }

  /** A cheap inline method: the ping the inference benchmark runs beside predictions. */
  @rpc
  hello(name: string) {
    return `Hello, ${name}!`;
  }
}
