import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { LoopWatchdog, formatBlockedWarning, type BlockedReport } from '../src/loop-watchdog.js';

function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('LoopWatchdog', () => {
  let dog: LoopWatchdog | undefined;
  afterEach(() => dog?.stop());

  function watch(): BlockedReport[] {
    const reports: BlockedReport[] = [];
    dog = new LoopWatchdog({ thresholdMs: 100, onBlocked: (r) => reports.push(r) });
    dog.start();
    return reports;
  }

  it('reports a 300 ms block once, naming the call that was running', async () => {
    const reports = watch();
    await sleep(50);
    const exit = dog!.enter('greeting_service', 'computation_bound');
    blockFor(300);
    await sleep(100);
    exit();
    await sleep(100);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.blockedMs).toBeGreaterThanOrEqual(200);
    expect(reports[0]!.thresholdMs).toBe(100);
    expect(reports[0]!.running.map((c) => `${c.service}.${c.method}`)).toEqual([
      'greeting_service.computation_bound',
    ]);
  });

  it('names a call that entered and exited within the block', async () => {
    const reports = watch();
    await sleep(50);
    const exit = dog!.enter('greeting_service', 'computation_bound');
    blockFor(300);
    exit();
    await sleep(100);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.running).toMatchObject([{ service: 'greeting_service', method: 'computation_bound' }]);
    expect(reports[0]!.running[0]!.endedAt).toBeGreaterThanOrEqual(reports[0]!.running[0]!.startedAt + 250);
  });

  it('does not name calls that ended before the last sample', async () => {
    const reports = watch();
    dog!.enter('early', 'done')();
    await sleep(100);
    blockFor(300);
    await sleep(50);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.running).toEqual([]);
  });

  it('reports nothing while the loop is idle', async () => {
    const reports = watch();
    const exit = dog!.enter('greeting_service', 'hello');
    await sleep(300);
    exit();
    expect(reports).toEqual([]);
  });

  it('stop() ends reporting', async () => {
    const reports = watch();
    await sleep(30);
    dog!.stop();
    blockFor(300);
    await sleep(100);
    expect(reports).toEqual([]);
  });

  it('survives an onBlocked that throws', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      dog = new LoopWatchdog({
        thresholdMs: 100,
        onBlocked: () => {
          throw new Error('logger broke');
        },
      });
      dog.start();
      await sleep(30);
      blockFor(200);
      await sleep(100);
      expect(warnings.map((w) => w.message)).toContain('logger broke');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('stats() reports event-loop delay in ms, and resets', async () => {
    dog = new LoopWatchdog({ thresholdMs: 1000, onBlocked: () => {} });
    expect(dog.stats()).toEqual({ p50: 0, p99: 0, max: 0, count: 0 });
    dog.start();
    await sleep(50);
    blockFor(120);
    await sleep(50);
    const s = dog.stats();
    expect(s.count).toBeGreaterThan(0);
    expect(s.max).toBeGreaterThanOrEqual(100);
    expect(s.max).toBeLessThan(1000);
    expect(s.p50).toBeLessThan(s.max);
    dog.resetStats();
    expect(dog.stats().count).toBe(0);
  });

  it('rejects bad options', () => {
    expect(() => new LoopWatchdog({ thresholdMs: 0, onBlocked: () => {} })).toThrow(TypeError);
    expect(() => new LoopWatchdog({ thresholdMs: Number.NaN, onBlocked: () => {} })).toThrow(TypeError);
    expect(() => new LoopWatchdog({ thresholdMs: 100, onBlocked: () => {}, sampleMs: -1 })).toThrow(TypeError);
  });

  it('does not keep the process alive', async () => {
    // Vitest keeps its own timers alive, so check in a fresh process that it exits by itself.
    const url = new URL('../src/loop-watchdog.ts', import.meta.url).href;
    const script = `import { LoopWatchdog } from ${JSON.stringify(url)};
      new LoopWatchdog({ thresholdMs: 100, onBlocked() {} }).start();`;
    const { code } = await new Promise<{ code: number | null }>((resolve, reject) => {
      const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        timeout: 10_000,
      });
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code }));
    });
    expect(code).toBe(0);
  });
});

describe('formatBlockedWarning', () => {
  const at = 0;
  it('names a single call and suggests the fixes', () => {
    expect(
      formatBlockedWarning({
        blockedMs: 2310.4,
        thresholdMs: 500,
        running: [{ service: 'greeting_service', method: 'computation_bound', startedAt: at }],
      }),
    ).toBe(
      'event loop blocked for 2310 ms (threshold 500 ms) while greeting_service.computation_bound was running ' +
        'inline; mark it @cpuBound to run it in the worker pool, or await a yieldEvery() tick inside its loop',
    );
  });

  it('groups repeated methods and caps the list', () => {
    const call = (service: string, method: string) => ({ service, method, startedAt: at });
    const text = formatBlockedWarning({
      blockedMs: 600,
      thresholdMs: 500,
      running: [call('a', 'x'), call('a', 'x'), call('b', 'y'), call('c', 'z'), call('d', 'w'), call('e', 'v')],
    });
    expect(text).toContain('while a.x (x2), b.y, c.z and 2 more were running inline');
  });

  it('says when nothing of ours was running', () => {
    expect(formatBlockedWarning({ blockedMs: 700, thresholdMs: 500, running: [] })).toMatch(
      /^event loop blocked for 700 ms \(threshold 500 ms\) while no enoki call was running inline/,
    );
  });
});
