// What the pitfall scripts share: where the broker is, names that no other run uses, a
// service started the way users start one (`enoki run` in a child process, its JSON log
// lines collected), percentiles and a markdown table.
//
// Each script file is both the services it demonstrates (enoki run and pool threads
// import it) and the driver that calls them; `isEntry(import.meta.url)` tells the two apart.

import amqp from 'amqplib';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { loadConfig, type EnokiConfig } from '../../src/index.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const AMQP_URI = process.env.AMQP_URI ?? 'amqp://guest:guest@localhost:5672/';
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** One exchange for every pitfall run; queues are per run (see serviceName) and deleted after. */
export const EXCHANGE = 'enoki-pitfalls';

// A run id shared, through the environment, by the driver, its `enoki run` children and
// their pool threads, so that two runs at once (a test and a person) never share a queue.
if (!process.env.PITFALL_RUN) process.env.PITFALL_RUN = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
export const RUN = process.env.PITFALL_RUN;

export function serviceName(prefix: string): string {
  return `${prefix}_${RUN}`;
}

/** True in the process that ran `npx tsx <this file>`; false under enoki run and in pool threads. */
export function isEntry(moduleUrl: string): boolean {
  return isMainThread && process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === moduleUrl;
}

/** Config for the driver's clients: the pitfall exchange, quiet logs. */
export function clientConfig(extra: Record<string, unknown> = {}): EnokiConfig {
  return loadConfig({ AMQP_URI, rpc_exchange: EXCHANGE, LOGGING: { level: 'warn' }, ...extra });
}

export interface LogLine {
  level?: number;
  msg?: string;
  err?: { type?: string; message?: string; stack?: string };
  [key: string]: unknown;
}

/**
 * `node bin/enoki.js run --config <tmp> <specs>` with the given config keys (AMQP_URI and
 * the exchange filled in), JSON logs on stderr collected line by line.
 */
export class ServiceProcess {
  readonly logs: LogLine[] = [];
  readonly child: ChildProcess;
  private readonly dir: string;
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null = null;
  readonly exited: Promise<number>;

  private constructor(specs: string[], config: Record<string, unknown>) {
    this.dir = mkdtempSync(join(tmpdir(), 'enoki-pitfall-'));
    const file = join(this.dir, 'config.yaml');
    // JSON is YAML: no quoting rules to get wrong.
    const full = { AMQP_URI, rpc_exchange: EXCHANGE, ...config, LOGGING: { level: 'info', destination: 'stderr', pretty: false } };
    writeFileSync(file, JSON.stringify(full, null, 1));
    this.child = spawn(process.execPath, [join(ROOT, 'bin/enoki.js'), 'run', '--config', file, ...specs], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { msg: line };
      }
      this.logs.push(parsed);
      for (const wake of this.waiters) wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal === 'SIGKILL' ? 137 : 1);
        rmSync(this.dir, { recursive: true, force: true });
        for (const wake of this.waiters) wake();
        resolve(this.exitCode);
      });
    });
  }

  /** Start and wait until `enoki run` says it is running. */
  static async start(specs: string[], config: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<ServiceProcess> {
    const service = new ServiceProcess(specs, config);
    try {
      await service.waitFor((l) => l.msg?.startsWith('enoki running') === true, timeoutMs, '"enoki running"');
    } catch (err) {
      await service.stop('SIGKILL');
      throw err;
    }
    return service;
  }

  count(match: (line: LogLine) => boolean): number {
    return this.logs.filter(match).length;
  }

  /** Resolves at the first log line matching; rejects after `ms`, or if the process exits first. */
  waitFor(match: (line: LogLine) => boolean, ms: number, what: string): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.logs.find(match);
        if (found) done(() => resolve(found));
        else if (this.exitCode !== null) done(() => reject(new Error(`enoki run exited (${this.exitCode}) before logging ${what}:\n${this.tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${what} in the service's log within ${ms} ms:\n${this.tail()}`))), ms);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  tail(n = 8): string {
    return this.logs
      .slice(-n)
      .map((l) => `  ${l.msg ?? JSON.stringify(l)}`)
      .join('\n');
  }

  /** SIGTERM: calls in flight finish, exit 0. SIGKILL: for a process whose loop is blocked. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number> {
    if (this.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Delete the run's service queues: a killed service leaves its unanswered request there. */
export async function deleteQueues(names: readonly string[]): Promise<void> {
  const connection = await amqp.connect(AMQP_URI);
  try {
    const channel = await connection.createChannel();
    for (const name of names) await channel.deleteQueue(`rpc-${name}`);
  } finally {
    await connection.close();
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function ms(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(digits)} ms`;
}

/** A markdown table, columns padded so it reads in a terminal too. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Print the verdict and set the exit code: non-zero when the enoki answer did not hold. */
export function verdict(failures: readonly string[], success: string): void {
  if (failures.length === 0) {
    console.log(`\nOK: ${success}`);
  } else {
    console.log(`\nFAILED:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
    process.exitCode = 1;
  }
}
