// Dynamic micro-batching for `@batched` methods (Triton's dynamic batcher, TorchServe's
// batch_size / max_batch_delay): callers send one input per call; concurrent calls of the
// method are gathered on the main thread, up to `maxBatch` or until `maxDelayMs` after the
// first, and the method runs once with the array of inputs (in one pool task when it is
// also `@cpuBound`). Element i of the result answers call i.
//
// Each call still goes through the whole worker path on its own (its max_workers slot,
// its hooks, its reply): only the method's execution is shared. So a batch can only be as
// large as the calls in flight at once, which max_workers bounds; the container warns at
// start when maxBatch is larger than max_workers.
//
// Failures: an element that is an Error fails only its call; a thrown error, or a result
// that is not an array of one element per input, fails every call of the batch.

import { EnokiError } from './errors.js';

/** Options of `@batched`. */
export interface BatchedOptions {
  /** The most inputs one execution takes (default 32). */
  maxBatch?: number;
  /** How long the first input of a batch waits for more, in milliseconds (default 5). */
  maxDelayMs?: number;
}

/** The defaults for a `@batched` method's options. */
export const BATCH_DEFAULTS: Required<BatchedOptions> = { maxBatch: 32, maxDelayMs: 5 };

interface Waiting<C> {
  input: unknown;
  context: C;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * Gathers the inputs of one method's calls and runs them as batches. `execute` runs the
 * method once on an array of inputs, with the context of the batch's first call (whose
 * dependencies it uses).
 */
export class Batcher<C> {
  private pending: Waiting<C>[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Batches run so far and their total size, for the mean batch size. */
  batches = 0;
  inputs = 0;

  constructor(
    private readonly label: string,
    private readonly options: Required<BatchedOptions>,
    private readonly execute: (inputs: unknown[], context: C) => Promise<unknown> | unknown,
  ) {}

  /** One call's input; resolves with its element of the batch's result. */
  add(input: unknown, context: C): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({ input, context, resolve, reject });
      if (this.pending.length >= this.options.maxBatch) this.flush();
      else if (!this.timer) {
        this.timer = setTimeout(() => this.flush(), this.options.maxDelayMs);
        this.timer.unref?.();
      }
    });
  }

  /** Runs what is waiting now (also at stop, so no call waits for a delay that no longer matters). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.options.maxBatch);
      void this.run(batch);
    }
  }

  private async run(batch: Waiting<C>[]): Promise<void> {
    this.batches++;
    this.inputs += batch.length;
    let result: unknown;
    try {
      result = await this.execute(
        batch.map((w) => w.input),
        batch[0]!.context,
      );
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    if (!Array.isArray(result) || result.length !== batch.length) {
      const got = Array.isArray(result) ? `an array of ${result.length}` : typeof result;
      const error = new EnokiError('ENOKI_ERR_BATCH_RESULT', [this.label, batch.length, got]);
      for (const w of batch) w.reject(error);
      return;
    }
    batch.forEach((w, i) => {
      const element: unknown = result[i];
      if (element instanceof Error) w.reject(element);
      else w.resolve(element);
    });
  }
}

/** Validated `@batched` options with the defaults filled in. */
export function batchOptions(options: BatchedOptions): Required<BatchedOptions> {
  const out = { ...BATCH_DEFAULTS, ...options };
  if (!Number.isInteger(out.maxBatch) || out.maxBatch < 1) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['batched', String(out.maxBatch), 'maxBatch is a whole number of inputs, at least 1']);
  }
  if (!Number.isFinite(out.maxDelayMs) || out.maxDelayMs < 0) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['batched', String(out.maxDelayMs), 'maxDelayMs is a number of milliseconds, 0 or more']);
  }
  return out;
}
