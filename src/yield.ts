// Cooperative yielding for long inline loops. The AMQP heartbeat, socket reads and timers
// all live on the main event loop; a loop that never gives the loop a turn starves them.
// A yield here is always a macrotask (setImmediate): `await Promise.resolve()` only drains
// the microtask queue and lets no timer or socket callback run.

import { performance } from 'node:perf_hooks';

const RESOLVED: Promise<void> = Promise.resolve();

// Reading the clock costs about as much as the `await` around tick() itself (~45 ns for
// performance.now() against ~50 ns for the await, Node 20), so reading it on every call made
// an empty-loop tick ~90 ns against ~60 ns with the stride below (bench/yield.ts). So we read
// it every `stride` calls, adapting the stride so reads land about READS_PER_WINDOW times
// per `ms`.
const READS_PER_WINDOW = 4;
// The stride is a bet that the next calls cost what the last ones did. If the per-call work
// suddenly grows, up to MAX_STRIDE calls run before we notice, so the cap bounds the overshoot
// to MAX_STRIDE x (new per-call cost): 20 ms asked, cheap calls turning into 2 ms calls gave
// ~32 ms at 8 and ~42 ms at 16, while 16 bought no measurable speed over 8.
const MAX_STRIDE = 8;

function checkMs(ms: number): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new TypeError(`yield interval must be a finite number of ms >= 0, got ${String(ms)}`);
  }
}

/**
 * Returns tick(): awaiting it yields to the event loop with setImmediate once `ms` have
 * passed since the last yield; otherwise it costs almost nothing. `ms` = 0 yields on every
 * call.
 */
export function yieldEvery(ms: number): () => Promise<void> {
  checkMs(ms);
  if (ms === 0) return yieldNow;

  const target = ms / READS_PER_WINDOW;
  let lastYield = performance.now();
  let lastRead = lastYield;
  let stride = 1;
  let countdown = 1;

  const resume = (resolve: () => void): void => {
    setImmediate(() => {
      // Time spent queued behind other callbacks is not the caller's work: restart the
      // window from when the caller gets the loop back.
      lastYield = lastRead = performance.now();
      resolve();
    });
  };

  return function tick(): Promise<void> {
    if (--countdown > 0) return RESOLVED;
    const now = performance.now();
    const sinceRead = now - lastRead;
    if (sinceRead >= ms) {
      // We already overshot a whole window between two reads: the work per call grew.
      // Go back to reading every call and let the stride grow again from there.
      stride = 1;
    } else {
      const perCall = sinceRead / stride;
      const ideal = perCall > 0 ? Math.floor(target / perCall) : MAX_STRIDE;
      // Shrink at once, grow at most ×2 per read, so one fast stretch cannot launch a
      // large stride that a slower stretch then has to pay for.
      stride = Math.max(1, Math.min(ideal, stride * 2, MAX_STRIDE));
    }
    countdown = stride;
    lastRead = now;
    if (now - lastYield >= ms) return new Promise(resume);
    return RESOLVED;
  };
}

function yieldNow(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * for await (const row of yieldingEach(rows, 50)) — iterates any Iterable or AsyncIterable
 * lazily (infinite generators are fine), yielding to the event loop (setImmediate) at most
 * every `ms`.
 */
export function yieldingEach<T>(items: Iterable<T> | AsyncIterable<T>, ms: number): AsyncIterable<T> {
  // Validate now rather than on the first next(), so a bad argument fails at the call site.
  checkMs(ms);
  return isAsyncIterable(items) ? eachAsync(items, ms) : eachSync(items, ms);
}

function isAsyncIterable<T>(items: Iterable<T> | AsyncIterable<T>): items is AsyncIterable<T> {
  return typeof (items as AsyncIterable<T>)[Symbol.asyncIterator] === 'function';
}

// Sync iterables get a plain for-of: `for await` would wrap every step of them in an extra
// promise, and this loop runs once per row.
async function* eachSync<T>(items: Iterable<T>, ms: number): AsyncGenerator<T> {
  // Created inside the generator so the window starts when iteration does.
  const tick = yieldEvery(ms);
  for (const item of items) {
    // Ticking before handing out the next item counts the consumer's loop body as work.
    await tick();
    yield item;
  }
}

async function* eachAsync<T>(items: AsyncIterable<T>, ms: number): AsyncGenerator<T> {
  const tick = yieldEvery(ms);
  for await (const item of items) {
    // An async source can still resolve from microtasks only (e.g. an in-memory buffer),
    // so it may never give the loop a turn on its own.
    await tick();
    yield item;
  }
}
