// entrypointWaiter: wait until an entrypoint of a container has run, for calls that the
// test does not make itself (a message another service sends, a call whose caller gave up
// waiting). As nameko's entrypoint_waiter, "has run" means the worker is over: the
// method returned or threw, the entrypoint answered and every teardown hook ran.

import { EnokiError } from '../errors.js';
import type { ServiceContainer, WorkerOutcome } from '../service-container.js';
import { findEntrypoint, type EntrypointName } from './entrypoints.js';
import { usageError } from './usage-error.js';

/** Options of {@link entrypointWaiter}. */
export interface EntrypointWaiterOptions {
  /** Give up after this many milliseconds (default 5000, below vitest's default test timeout). */
  timeoutMs?: number;
  /** Wait for the first call this returns true for (e.g. a given argument); default: any call. */
  filter?: (outcome: WorkerOutcome) => boolean;
}

/** The entrypoint did not run (or no run matched the filter) within the timeout. */
export class EntrypointWaiterTimeout extends EnokiError {
  constructor(
    readonly serviceName: string,
    readonly methodName: string,
    readonly timeoutMs: number,
    readonly filtered: boolean,
  ) {
    super('ENOKI_ERR_WAIT_TIMEOUT', [`${serviceName}.${methodName}`, filtered ? ' with a matching outcome' : '', timeoutMs]);
  }
}

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Start waiting now, trigger the call, then await the outcome; it resolves whether the
 * method succeeded or threw (`outcome.error`):
 *
 *     const done = entrypointWaiter(container, 'handle_event');
 *     await somethingThatCausesTheCall();
 *     const { result, error, ctx } = await done;
 *
 * Calls that finished before entrypointWaiter was called are not seen.
 */
export function entrypointWaiter<S, K extends EntrypointName<S>>(
  container: ServiceContainer<S>,
  method: K,
  options: EntrypointWaiterOptions = {},
): Promise<WorkerOutcome> {
  const { methodName } = findEntrypoint(container, method, 'entrypointWaiter');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw usageError('entrypointWaiter', `timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  }
  let stopListening = (): void => {};
  const waiting = new Promise<WorkerOutcome>((resolve, reject) => {
    const timer = setTimeout(() => {
      stopListening();
      reject(new EntrypointWaiterTimeout(container.serviceName, methodName, timeoutMs, options.filter !== undefined));
    }, timeoutMs);
    // Subscribed synchronously, before the caller can trigger the call.
    stopListening = container.onWorkerDone((outcome) => {
      if (outcome.ctx.methodName !== methodName) return;
      let matched: boolean;
      try {
        matched = options.filter === undefined || options.filter(outcome);
      } catch (err) {
        // A throwing filter is the test's own assertion failing: report it, stop waiting.
        clearTimeout(timer);
        stopListening();
        reject(err);
        return;
      }
      if (!matched) return;
      clearTimeout(timer);
      stopListening();
      resolve(outcome);
    });
  });
  // A test that fails before it awaits the waiter must not also report an unhandled
  // rejection when the timeout fires; whoever awaits still gets the rejection.
  waiting.catch(() => undefined);
  return waiting;
}
