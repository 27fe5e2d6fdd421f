// InferenceService: a real model served over RPC and HTTP. The model loads once per
// thread that imports this module (a static field), never per call; predictions run in
// the worker pool (@cpuBound), so a batch of 256 (tens of ms of CPU) never delays the
// AMQP heartbeat or a `hello` on the same process.

import { threadId } from 'node:worker_threads';
import { cpuBound, http, rpc, type HttpRequest } from 'enoki';
import { InvalidModelInput, loadModel, type Prediction } from './model.js';

const MODEL_PATH = new URL('./model.json', import.meta.url).pathname;

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
