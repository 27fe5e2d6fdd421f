// What does a tick() cost, and how well does it keep its promise about yield intervals?
// Run: npx tsx bench/yield.ts
//
// Compares (a) a tick that reads performance.now() on every call, (b) src/yield.ts, whose
// adaptive stride reads the clock only every few calls, and (c) a bare `await undefined`,
// the floor any awaited tick pays. The achieved yield interval is measured from outside: a
// setImmediate chain runs once per yield, so the largest gap between its runs is the longest
// stretch the loop was held.

import { performance } from 'node:perf_hooks';
import { yieldEvery } from '../src/yield.js';

const RESOLVED: Promise<void> = Promise.resolve();

function clockEveryCall(ms: number): () => Promise<void> {
  let last = performance.now();
  const resume = (resolve: () => void): void => {
    setImmediate(() => {
      last = performance.now();
      resolve();
    });
  };
  return () => (performance.now() - last >= ms ? new Promise(resume) : RESOLVED);
}

function bareAwait(_ms: number): () => Promise<void> {
  return () => RESOLVED;
}

// Records the longest gap between turns the loop gets while the measured loop runs.
function watchGaps(): { stop(): number } {
  let last = performance.now();
  let max = 0;
  let running = true;
  const spin = (): void => {
    const now = performance.now();
    if (now - last > max) max = now - last;
    last = now;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  return {
    stop() {
      running = false;
      return max;
    },
  };
}

function busy(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

interface Row {
  scenario: string;
  variant: string;
  'ns/call': string;
  'requested ms': number;
  'max interval ms': string;
}

interface Result {
  nsPerCall: number;
  maxGapMs: number;
}

async function run(
  tick: () => Promise<void>,
  calls: number,
  workUs: (i: number) => number,
): Promise<Result> {
  const gaps = watchGaps();
  // Let the watcher take its first turn so the first gap starts from here.
  await new Promise((r) => setImmediate(r));
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    const w = workUs(i);
    if (w > 0) busy(w);
    await tick();
  }
  const elapsed = performance.now() - start;
  return { nsPerCall: (elapsed * 1e6) / calls, maxGapMs: gaps.stop() };
}

const variants: [string, (ms: number) => () => Promise<void>, boolean][] = [
  ['(a) clock every call', clockEveryCall, true],
  ['(b) yieldEvery (adaptive)', yieldEvery, true],
  ['(c) await undefined', bareAwait, false],
];

const scenarios: [string, number, number, (i: number) => number][] = [
  // Empty loop body: the tick's own overhead is all there is.
  ['empty body', 20, 3_000_000, () => 0],
  ['empty body', 5, 3_000_000, () => 0],
  // Light work per call, the usual row-processing case.
  ['1 µs work', 20, 200_000, () => 1],
  // The stride is a bet on per-call cost: 2M cheap calls grow it, then each call suddenly
  // costs 2 ms. The cap on the stride bounds how long we hold the loop before noticing.
  ['cheap, then 2 ms/call', 20, 2_000_200, (i) => (i < 2_000_000 ? 0 : 2000)],
];

// Shared machines are noisy: run each variant REPS times, interleaved, and report the best
// time per call (the cost of the code, not of the neighbours) with the worst interval seen
// (the promise we make to the heartbeat).
const REPS = 3;

// Warm up so the JIT has settled before anything is measured.
for (const [, make] of variants) await run(make(20), 500_000, () => 0);

const rows: Row[] = [];
for (const [scenario, ms, calls, work] of scenarios) {
  const results = variants.map(() => [] as Result[]);
  for (let rep = 0; rep < REPS; rep++) {
    for (const [i, [, make]] of variants.entries()) results[i]!.push(await run(make(ms), calls, work));
  }
  for (const [i, [variant, , yields]] of variants.entries()) {
    const rs = results[i]!;
    rows.push({
      scenario,
      variant,
      'ns/call': Math.min(...rs.map((r) => r.nsPerCall)).toFixed(1),
      'requested ms': ms,
      'max interval ms': yields ? Math.max(...rs.map((r) => r.maxGapMs)).toFixed(1) : '(never yields)',
    });
  }
}
console.table(rows);
