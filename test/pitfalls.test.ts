// The pitfall scripts (scripts/pitfalls/*.ts), each run as the README runs it, on RabbitMQ
// in a vhost of this file's own. Each script already exits 1 when enoki's answer did not
// hold; this file also reads the table it printed and checks that the "before" rows still
// show the pitfall, so that the README never demonstrates a problem that no longer shows.
//
// Every script in the folder is run (a new one fails here until it gets its checks).

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVhost, type TestVhost } from './support/vhost.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPTS = readdirSync(new URL('../scripts/pitfalls/', import.meta.url))
  .filter((f) => f.endsWith('.ts') && f !== 'support.ts')
  .map((f) => f.slice(0, -3))
  .sort();

let vhost: TestVhost;
beforeAll(() => {
  vhost = createVhost('pitfalls');
});
afterAll(() => vhost?.remove());

interface Ran {
  code: number | null;
  output: string;
  /** The printed markdown table, by its first column. */
  rows: Map<string, string[]>;
}

function runScript(name: string, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', `scripts/pitfalls/${name}.ts`], {
      cwd: ROOT,
      env: { ...process.env, AMQP_URI: vhost.uri, FORCE_COLOR: '0' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      output += `\n[killed after ${timeoutMs} ms]`;
      process.kill(-child.pid!, 'SIGKILL');
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      const rows = new Map<string, string[]>();
      for (const line of output.split('\n')) {
        if (!line.startsWith('| ')) continue;
        const cells = line.slice(2, -2).split(' | ').map((c) => c.trim());
        rows.set(cells[0]!, cells);
      }
      resolve({ code, output, rows });
    });
  });
}

/** Each script's own checks, on the table it printed. */
const CHECKS: Record<string, { timeoutMs: number; check: (rows: Map<string, string[]>) => void }> = {
  errors: {
    timeoutMs: 60_000,
    check(rows) {
      expect(rows.get("order('tea', 'two')")?.[2]).toMatch(/^error: .*stack at errors\.ts:\d+$/);
      expect(rows.get("order_in_pool('tea', 'two')  @cpuBound")?.[2]).toMatch(/^error: .*stack at errors\.ts:\d+$/);
      expect(rows.get("reserve('tea')")?.[2]).toMatch(/^warn: /);
      // The caller never sees the stack (INCLUDE_REMOTE_STACK is off): the log is the only place.
      expect(rows.get("order('tea', 'two')")?.[1]).toBe('RemoteError TypeError, no stack');
    },
  },
  'client-cost': {
    timeoutMs: 90_000,
    check(rows) {
      expect(rows.get('RPC: a client per call')?.[2]).toBe(rows.get('RPC: a client per call')?.[1]);
      expect(rows.get('RPC: one shared client')?.[2]).toBe('1');
      expect(rows.get('HTTP: nodeHttpRpc, one client')?.[2]).toBe('1');
    },
  },
  'init-per-call': {
    timeoutMs: 90_000,
    check(rows) {
      const before = rows.get('before: `model = loadModel()` (instance field)')!;
      const after = rows.get('after: `static model = loadModel()`')!;
      // Before: one load per call. After: one per thread that served a call.
      expect(Number(before[2]!.split(' ')[0])).toBe(Number(before[1]));
      const perThread = [...after[2]!.matchAll(/thread \d+: (\d+)/g)].map((m) => Number(m[1]));
      expect(perThread.length).toBeGreaterThanOrEqual(1);
      expect(perThread.every((n) => n === 1)).toBe(true);
    },
  },
  'shared-db': {
    timeoutMs: 90_000,
    check(rows) {
      const [, , , expected, lost, written] = rows.get('before: one shared connection')!;
      // The pitfall shows: writes lost, or refused calls' rows kept, or both.
      expect(Number(lost) + Number(written)).toBeGreaterThan(0);
      for (const label of ['after: DatabasePool', 'after: DatabasePool from @cpuBound']) {
        expect(rows.get(label)!.slice(2)).toEqual([`0 -> ${expected}`, expected, '0', '0']);
      }
    },
  },
  heartbeat: {
    timeoutMs: 150_000,
    check(rows) {
      const [, answered, deliveries] = rows.get('inline')!;
      // The pitfall shows: no answer, and the request delivered again after the drop.
      expect(answered).toBe('no');
      expect(Number(deliveries)).toBeGreaterThanOrEqual(2);
      for (const variant of ['yieldEvery', 'cpuBound']) {
        const row = rows.get(variant)!;
        expect(row[1]).toMatch(/^yes/);
        expect(row.slice(2, 4)).toEqual(['1', '0']);
        expect(row[6]).toMatch(/^0 \//);
      }
    },
  },
};

describe.concurrent('scripts/pitfalls', () => {
  it('every script has its checks here', () => {
    expect(SCRIPTS).toEqual(Object.keys(CHECKS).sort());
  });

  for (const name of SCRIPTS) {
    const spec = CHECKS[name];
    if (!spec) continue;
    it(`npx tsx scripts/pitfalls/${name}.ts`, { timeout: spec.timeoutMs + 15_000 }, async () => {
      const { code, output, rows } = await runScript(name, spec.timeoutMs);
      expect({ code, tail: code === 0 ? '' : output.slice(-3000) }).toEqual({ code: 0, tail: '' });
      expect(output).toMatch(/^OK: /m);
      spec.check(rows);
    });
  }
});
