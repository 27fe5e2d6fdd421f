// Event-loop blocking watchdog (nameko has none: eventlet hides the problem until the broker
// drops the connection). In enoki a blocked main loop means a missed AMQP heartbeat, so we
// want to hear about a block well before that, and to hear which inline call caused it.
//
// Detection is a periodic timer that measures its own lateness. It can only notice a block
// after the block ends — which costs nothing, since while the loop is blocked nothing could
// run anyway, the warning included.

import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';

export interface RunningCall {
  service: string;
  method: string;
  /** Date.now() when the call was entered. */
  startedAt: number;
  /** Date.now() when the call ended, for calls that finished during the blocking stretch. */
  endedAt?: number;
}

export interface BlockedReport {
  /** How late the sampling timer fired: a lower bound on how long the loop was held. */
  blockedMs: number;
  thresholdMs: number;
  /** Inline calls running on the main thread when the block was detected, oldest first. */
  running: RunningCall[];
}

export interface LoopWatchdogOptions {
  /** Report a block once the loop was held at least this long. */
  thresholdMs: number;
  onBlocked: (report: BlockedReport) => void;
  /** How often to sample; default min(thresholdMs / 4, 100), but at least 10. */
  sampleMs?: number;
}

// How many ended calls we remember between two samples. A block can only be caused by the
// calls that ran during it, which are the last ones to end before the timer fires, so a short
// list suffices; the longest ended call is kept on the side in case a burst of quick calls
// after the block pushes the culprit out.
const RECENT_ENDED = 16;

// monitorEventLoopDelay's own timer period. Its samples include this period, so stats()
// subtracts it to report pure delay.
const HISTOGRAM_RESOLUTION_MS = 10;

export class LoopWatchdog {
  readonly #thresholdMs: number;
  readonly #sampleMs: number;
  readonly #onBlocked: (report: BlockedReport) => void;

  readonly #running = new Set<RunningCall>();
  // Ring of calls that ended since the last sample; cleared on every sample.
  readonly #ended: (RunningCall | undefined)[] = new Array(RECENT_ENDED).fill(undefined);
  #endedNext = 0;
  #longestEnded: RunningCall | undefined;

  #timer: NodeJS.Timeout | undefined;
  #lastSample = 0;
  readonly #histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: HISTOGRAM_RESOLUTION_MS });

  constructor(options: LoopWatchdogOptions) {
    const { thresholdMs, onBlocked } = options;
    if (typeof thresholdMs !== 'number' || !Number.isFinite(thresholdMs) || thresholdMs <= 0) {
      throw new TypeError(`LoopWatchdog thresholdMs must be a finite number > 0, got ${String(thresholdMs)}`);
    }
    if (typeof onBlocked !== 'function') {
      throw new TypeError('LoopWatchdog onBlocked must be a function');
    }
    const sampleMs = options.sampleMs ?? Math.max(10, Math.min(thresholdMs / 4, 100));
    if (typeof sampleMs !== 'number' || !Number.isFinite(sampleMs) || sampleMs < 1) {
      throw new TypeError(`LoopWatchdog sampleMs must be a finite number >= 1, got ${String(sampleMs)}`);
    }
    this.#thresholdMs = thresholdMs;
    this.#sampleMs = sampleMs;
    this.#onBlocked = onBlocked;
  }

  start(): void {
    if (this.#timer) return;
    this.#clearEnded();
    this.#lastSample = performance.now();
    this.#timer = setInterval(() => this.#sample(), this.#sampleMs);
    // A diagnostic must never be the thing that keeps the process alive.
    this.#timer.unref();
    this.#histogram.enable();
  }

  stop(): void {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#histogram.disable();
    this.#clearEnded();
  }

  /** Mark an inline (main-thread) call as running; returns a function that unmarks it. Cheap: called on every RPC. */
  enter(service: string, method: string): () => void {
    const call: RunningCall = { service, method, startedAt: Date.now() };
    this.#running.add(call);
    return () => {
      // Idempotent: a second exit (e.g. from both a finally and an error path) is harmless.
      if (!this.#running.delete(call)) return;
      call.endedAt = Date.now();
      this.#ended[this.#endedNext] = call;
      this.#endedNext = (this.#endedNext + 1) % RECENT_ENDED;
      const longest = this.#longestEnded;
      if (!longest || call.endedAt - call.startedAt > longest.endedAt! - longest.startedAt) {
        this.#longestEnded = call;
      }
    };
  }

  /** perf_hooks.monitorEventLoopDelay histogram view for metrics/benches: p50/p99/max in ms since last reset. */
  stats(): { p50: number; p99: number; max: number; count: number } {
    const h = this.#histogram;
    const count = h.count;
    // An empty histogram reports nonsense (percentiles of a few hundred ns, min = 2^63).
    if (count === 0) return { p50: 0, p99: 0, max: 0, count: 0 };
    const ms = (ns: number): number => Math.max(0, ns / 1e6 - HISTOGRAM_RESOLUTION_MS);
    return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), count };
  }

  resetStats(): void {
    this.#histogram.reset();
  }

  #sample(): void {
    const now = performance.now();
    // Node re-arms an interval after its callback runs, so the expected gap between two
    // callbacks is one sampleMs; anything beyond that the loop spent on something else.
    const lateMs = now - this.#lastSample - this.#sampleMs;
    this.#lastSample = now;
    if (lateMs >= this.#thresholdMs) {
      const report: BlockedReport = {
        blockedMs: Math.round(lateMs),
        thresholdMs: this.#thresholdMs,
        running: this.#snapshot(),
      };
      try {
        this.#onBlocked(report);
      } catch (err) {
        // Thrown from a timer this would crash the process: a warning must not do that.
        process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'LoopWatchdogWarning');
      }
    }
    this.#clearEnded();
  }

  // Calls still running, plus those that ended since the previous sample: a call that ran
  // to completion synchronously inside the block is gone from the running set by now.
  #snapshot(): RunningCall[] {
    const calls = new Set<RunningCall>(this.#running);
    for (const call of this.#ended) if (call) calls.add(call);
    if (this.#longestEnded) calls.add(this.#longestEnded);
    return [...calls].map((c) => ({ ...c })).sort((a, b) => a.startedAt - b.startedAt);
  }

  #clearEnded(): void {
    this.#ended.fill(undefined);
    this.#endedNext = 0;
    this.#longestEnded = undefined;
  }
}

const MAX_NAMED = 3;

/**
 * One log line naming the likely culprits, e.g. "event loop blocked for 2310 ms (threshold
 * 500 ms) while greeting_service.computation_bound was running inline; mark it `@cpuBound` …".
 */
export function formatBlockedWarning(report: BlockedReport): string {
  const head = `event loop blocked for ${Math.round(report.blockedMs)} ms (threshold ${report.thresholdMs} ms)`;
  if (report.running.length === 0) {
    return `${head} while no enoki call was running inline; look for synchronous work in timers, hooks or startup code`;
  }
  // Many concurrent calls of one method are one suspect, not many.
  const counts = new Map<string, number>();
  for (const call of report.running) {
    const name = `${call.service}.${call.method}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const names = [...counts].map(([name, n]) => (n > 1 ? `${name} (x${n})` : name));
  const shown = names.slice(0, MAX_NAMED);
  if (names.length > MAX_NAMED) shown.push(`${names.length - MAX_NAMED} more`);
  const one = names.length === 1;
  const list = one ? shown[0]! : `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]!}`;
  return (
    `${head} while ${list} ${one ? 'was' : 'were'} running inline; ` +
    `mark ${one ? 'it' : 'the CPU-heavy one'} @cpuBound to run it in the worker pool, ` +
    `or await a yieldEvery() tick inside its loop`
  );
}
