// What the main thread and a pool thread say to each other for one @cpuBound call.
// Shared by src/offload/ (main thread) and workers/offload-worker.ts (pool threads), so
// the two sides cannot disagree on a shape. Types and constants only: this file is
// loaded in every pool thread.
//
// One call, in messages:
//   main -> thread   piscina task: OffloadTask (args cloned; plain-data dependencies by value)
//   thread -> main   parentPort {started}          only for calls with a timeout, so the
//                                                   timeout error can say queued vs running,
//                                                   or traced calls (the thread span's start)
//   thread -> main   parentPort {port}             first touch of a remote dependency: a
//                                                   MessagePort that the main thread serves
//                                                   that call's dependencies on (comlink)
//   thread -> main   parentPort {outcome}          the result or the error
// The outcome goes over parentPort rather than as piscina's task result because a value
// that cannot be cloned, returned to piscina, kills the thread (piscina posts it outside
// any try); posting it ourselves lets us catch DataCloneError and answer with a coded error.

import type { MessagePort } from 'node:worker_threads';

/** Marks our messages on parentPort (the pool's 'message' event may carry others). */
export const OFFLOAD_TAG = 'enoki.offload';

/** Set on globalThis in every pool thread before the service's module is imported. */
export const POOL_THREAD_MARK = Symbol.for('enoki.poolThread');

export interface ServiceRef {
  /** file: URL of the module that exports the service class. */
  module: string;
  /** Export name, when known; otherwise the thread finds the class by service name. */
  exportName: string | undefined;
  serviceName: string;
}

export interface CallTask extends ServiceRef {
  kind: 'call';
  /** Unique per process; ties parentPort messages to the call. */
  key: number;
  method: string;
  args: unknown[];
  /** Dependencies that are plain data: sent by value. */
  values: Record<string, unknown>;
  /** Dependencies that are objects with behaviour: reached over a MessagePort. */
  remotes: string[];
  /** Set when the method has a timeout, or the call is traced: the thread then reports when it starts. */
  reportStart: boolean;
  /**
   * Set for a `@batched` method: its result is one element per input, and an element that
   * is an Error travels as `{ [BATCH_ERROR_TAG]: ThreadError }` (structured clone would
   * turn every Error subclass into a plain Error, losing an ExpectedError's meaning).
   */
  batched: boolean;
}

/** Marks an Error element of a `@batched` result on its way back from a thread. */
export const BATCH_ERROR_TAG = 'enoki.batchError';

/** Sent once per executor at startup: import the module and check the class is there. */
export interface WarmTask extends ServiceRef {
  kind: 'warm';
  methods: string[];
}

export type OffloadTask = CallTask | WarmTask;

/** An error thrown in a pool thread, described in plain data (structured clone keeps only name/message/stack of standard errors). */
export interface ThreadError {
  /** What `err.name` was: the wire exc_type. */
  name: string;
  message: string;
  stack: string | undefined;
  /** Constructor names along the prototype chain, most derived first ('InvalidInput', 'ExpectedError', 'Error'). */
  chain: string[];
  /** EnokiError code, when it was one. */
  code: string | undefined;
  /** Python-style `args`, already made strings (as serializeError would). */
  args: string[] | undefined;
  /** Instance or static `excPath`, as serializeError would read it. */
  excPath: string | undefined;
  /** An HTTP status the error asks for (HttpError, or an ExpectedError with `status`). */
  status?: number;
  /** Its response headers, when plain data. */
  headers?: Record<string, string | number | string[]>;
}

export type Outcome = { ok: true; value: unknown } | { ok: false; error: ThreadError };

/**
 * `at` is when the thread started or finished the method, by the thread's clock in epoch
 * milliseconds (`performance.timeOrigin + performance.now()`): the times of the call's
 * thread span when the call is traced (src/tracing/thread-span.ts).
 */
export type ThreadMessage =
  | { tag: typeof OFFLOAD_TAG; key: number; kind: 'started'; threadId: number; at: number }
  | { tag: typeof OFFLOAD_TAG; key: number; kind: 'port'; port: MessagePort }
  | { tag: typeof OFFLOAD_TAG; key: number; kind: 'outcome'; outcome: Outcome; at: number };

/**
 * What a piscina task resolves with: for a call, null once the outcome went over
 * parentPort (the outcome itself only if it could not be posted); for a warm task, its
 * outcome, whose value is a WarmResult.
 */
export type TaskReturn = Outcome | null;

export interface WarmResult {
  threadId: number;
  /** Milliseconds to import the service module in that thread (cold). */
  importMs: number;
}

export function isThreadMessage(value: unknown): value is ThreadMessage {
  return typeof value === 'object' && value !== null && (value as { tag?: unknown }).tag === OFFLOAD_TAG;
}
