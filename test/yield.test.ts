import { describe, expect, it } from 'vitest';
import { yieldEvery, yieldingEach } from '../src/yield.js';

// Runs `loop` while a 10 ms interval timer records when it fires: the timer stands in for
// the AMQP heartbeat, which only runs if the loop is given macrotask turns.
async function timerDuring(loop: () => Promise<void>): Promise<{ fired: number; maxGap: number }> {
  const stamps: number[] = [];
  const timer = setInterval(() => stamps.push(Date.now()), 10);
  const start = Date.now();
  try {
    await loop();
  } finally {
    clearInterval(timer);
  }
  let maxGap = stamps.length > 0 ? stamps[0]! - start : Date.now() - start;
  for (let i = 1; i < stamps.length; i++) maxGap = Math.max(maxGap, stamps[i]! - stamps[i - 1]!);
  return { fired: stamps.length, maxGap };
}

describe('yieldEvery', () => {
  it('lets timers run during a tight loop (a tick is a macrotask)', async () => {
    const tick = yieldEvery(20);
    const { fired, maxGap } = await timerDuring(async () => {
      const end = Date.now() + 300;
      while (Date.now() < end) await tick();
    });
    // ~30 firings in 300 ms if nothing were in the way; allow a loaded CI machine slack.
    expect(fired).toBeGreaterThanOrEqual(8);
    expect(maxGap).toBeLessThan(150);
  });

  it('contrast: a microtask-only loop starves timers completely', async () => {
    const { fired } = await timerDuring(async () => {
      const end = Date.now() + 300;
      while (Date.now() < end) await Promise.resolve();
    });
    expect(fired).toBe(0);
  });

  it('does not yield before ms have passed', async () => {
    const tick = yieldEvery(10_000);
    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    for (let i = 0; i < 100_000; i++) await tick();
    expect(immediateRan).toBe(false);
    await new Promise((r) => setImmediate(r));
  });

  it('ms = 0 yields on every call', async () => {
    const tick = yieldEvery(0);
    let turns = 0;
    let stop = false;
    const spin = (): void => {
      turns++;
      if (!stop) setImmediate(spin);
    };
    setImmediate(spin);
    for (let i = 0; i < 50; i++) await tick();
    stop = true;
    expect(turns).toBeGreaterThanOrEqual(49);
  });

  it('still yields when per-call work suddenly grows after many cheap calls', async () => {
    const tick = yieldEvery(20);
    const { maxGap } = await timerDuring(async () => {
      for (let i = 0; i < 500_000; i++) await tick();
      // Now every call costs 5 ms: the stride must not hold the loop for long.
      for (let i = 0; i < 30; i++) {
        const end = Date.now() + 5;
        while (Date.now() < end);
        await tick();
      }
    });
    // Worst case is ms + MAX_STRIDE x 5 ms = 60 ms; allow for a slow machine.
    expect(maxGap).toBeLessThan(150);
  });

  it.each([-1, Number.NaN, Infinity, '5' as unknown as number])('rejects ms = %s', (ms) => {
    expect(() => yieldEvery(ms)).toThrow(TypeError);
  });
});

describe('yieldingEach', () => {
  it('iterates an infinite generator lazily', async () => {
    function* naturals(): Generator<number> {
      for (let n = 0; ; n++) yield n;
    }
    const seen: number[] = [];
    for await (const n of yieldingEach(naturals(), 10)) {
      if (n >= 5) break;
      seen.push(n);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('closes the source when the consumer breaks', async () => {
    let closed = false;
    function* source(): Generator<number> {
      try {
        yield 1;
        yield 2;
      } finally {
        closed = true;
      }
    }
    for await (const n of yieldingEach(source(), 10)) if (n === 1) break;
    expect(closed).toBe(true);
  });

  it('passes async iterables through', async () => {
    async function* source(): AsyncGenerator<string> {
      yield 'a';
      await new Promise((r) => setTimeout(r, 1));
      yield 'b';
    }
    const seen: string[] = [];
    for await (const s of yieldingEach(source(), 10)) seen.push(s);
    expect(seen).toEqual(['a', 'b']);
  });

  it('lets timers run while a consumer loop does CPU work', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => i);
    const { fired, maxGap } = await timerDuring(async () => {
      for await (const _row of yieldingEach(rows, 20)) {
        const end = performance.now() + 0.1;
        while (performance.now() < end);
      }
    });
    expect(fired).toBeGreaterThanOrEqual(8);
    expect(maxGap).toBeLessThan(150);
  });

  it('validates ms at the call site', () => {
    expect(() => yieldingEach([1], -5)).toThrow(TypeError);
  });
});
