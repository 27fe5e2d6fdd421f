// What every fault scenario needs: broker control, a logger whose lines can be counted,
// a steady call load that records how each call ended, and the counts the report shows.
// Shared by the fault tests (which assert the counts) and scripts/faults.ts (which
// writes them to docs/RELIABILITY.md).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino, type Logger } from 'pino';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const execFileAsync = promisify(execFile);

/** rabbitmqctl, without blocking the event loop (the load keeps running meanwhile). */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('rabbitmqctl', args, { timeout: 120_000 });
  return stdout;
}

export async function queueCounts(vhost: string, queue: string): Promise<{ ready: number; unacked: number } | undefined> {
  const out = await rabbitmqctl('list_queues', '-q', '-p', vhost, 'name', 'messages_ready', 'messages_unacknowledged');
  for (const line of out.split('\n')) {
    const [name, ready, unacked] = line.trim().split(/\s+/);
    if (name === queue) return { ready: Number(ready), unacked: Number(unacked) };
  }
  return undefined;
}

/** The broker must always be left running, whatever happened. */
export async function ensureBrokerRunning(): Promise<void> {
  try {
    await rabbitmqctl('await_startup', '--timeout', '5');
    return;
  } catch {
    /* app stopped, or the node is down */
  }
  try {
    await rabbitmqctl('start_app');
  } catch {
    await execFileAsync('rabbitmq-server', ['-detached']).catch(() => undefined);
  }
  await rabbitmqctl('await_startup', '--timeout', '120');
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitUntil(what: string, test: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// --- a logger to count events by ------------------------------------------------------

export interface LogLine {
  level: number;
  msg: string;
  at: number;
  [key: string]: unknown;
}

/** A pino logger that keeps its lines (JSON) in memory. */
export class LogTap {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  readonly logger: Logger;

  constructor(level: 'debug' | 'info' | 'warn' = 'debug') {
    this.logger = pino(
      { level },
      {
        write: (line: string) => {
          this.raw.push(line);
          try {
            this.lines.push({ ...(JSON.parse(line) as LogLine), at: Date.now() });
          } catch {
            /* not JSON: kept in raw only */
          }
        },
      },
    );
  }

  matching(msg: string | RegExp, since = 0): LogLine[] {
    return this.lines.filter((l) => l.at >= since && (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
  }

  count(msg: string | RegExp, since = 0): number {
    return this.matching(msg, since).length;
  }

  text(): string {
    return this.raw.join('');
  }
}

// Messages the transport and the client log; scenarios count them.
export const LOG = {
  connectionLost: 'AMQP connection lost; reconnecting',
  connected: 'AMQP connected',
  droppedReply: 'dropped a reply for no pending call (late or duplicate)',
  resent: 'request confirm lost with the connection; sending it again',
  rejectedNoReplyTo: 'rejected an RPC request without reply_to: nowhere to send a reply',
  refused: 'RPC request refused',
} as const;

// --- load ---------------------------------------------------------------------------

export interface CallRecord {
  i: number;
  sentAt: number;
  settledAt?: number;
  outcome?: 'answered' | 'errored' | 'wrong';
  error?: string;
  /** How many times the caller's promise settled; anything above 1 is a duplicate. */
  settles: number;
  reply?: unknown;
}

export interface Fault {
  /** Start once this many calls have been sent; runs alongside the load. */
  atSent: number;
  run: () => Promise<void>;
  /**
   * Call number that waits for this fault to be over before it is sent, so that some
   * calls are always made after it, however long the fault takes on a busy machine.
   */
  holdAt?: number;
}

export interface LoadOptions {
  calls: number;
  /** Calls started per second; calls are not held back by slow replies. */
  ratePerSec: number;
  call: (i: number) => Promise<unknown>;
  /** Is this the reply call i should get? */
  check: (i: number, reply: unknown) => boolean;
  faults?: Fault[];
  /** After the last call is sent, how long to wait for all to settle before counting the rest lost. */
  settleWithinMs: number;
}

export interface LoadOutcome {
  records: CallRecord[];
  sent: number;
  answered: number;
  errored: number;
  /** Replies that were not the caller's (crossed) or a caller that heard twice. */
  duplicates: number;
  /** Neither a reply nor an error within the bound: what must never happen. */
  lost: number;
  errorsByCode: Record<string, number>;
  startedAt: number;
  endedAt: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadOutcome> {
  const records: CallRecord[] = [];
  const settled: Array<Promise<void>> = [];
  const faults = [...(options.faults ?? [])].sort((a, b) => a.atSent - b.atSent);
  const running: Array<Promise<void>> = [];
  const holds: Array<{ at: number; done: Promise<void> }> = [];
  const faultErrors: unknown[] = [];
  const start = (fault: Fault): void => {
    const done = fault.run().catch((err: unknown) => void faultErrors.push(err));
    running.push(done);
    if (fault.holdAt !== undefined) holds.push({ at: fault.holdAt, done });
  };
  let pausedMs = 0;
  const startedAt = Date.now();
  const interval = 1000 / options.ratePerSec;
  for (let i = 0; i < options.calls; i++) {
    while (faults.length > 0 && faults[0]!.atSent <= i) start(faults.shift()!);
    for (const hold of holds) {
      if (hold.at === i) {
        const t = Date.now();
        await hold.done;
        pausedMs += Date.now() - t;
      }
    }
    const record: CallRecord = { i, sentAt: Date.now(), settles: 0 };
    records.push(record);
    const done = (outcome: CallRecord['outcome'], reply?: unknown, error?: string): void => {
      record.settles++;
      if (record.settles > 1) return;
      record.settledAt = Date.now();
      record.outcome = outcome;
      record.reply = reply;
      record.error = error;
    };
    settled.push(
      options.call(i).then(
        (reply) => done(options.check(i, reply) ? 'answered' : 'wrong', reply),
        (err: unknown) => done('errored', undefined, describeError(err)),
      ),
    );
    // Pace by the clock, not by replies: a stalled broker piles calls up as real traffic would.
    const next = startedAt + pausedMs + (i + 1) * interval;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  for (const fault of faults) start(fault);
  await Promise.all(running);
  if (faultErrors.length > 0) throw faultErrors[0];
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(settled), new Promise((resolve) => (bound = setTimeout(resolve, options.settleWithinMs)))]);
  clearTimeout(bound);
  const endedAt = Date.now();
  const errorsByCode: Record<string, number> = {};
  for (const r of records) if (r.outcome === 'errored') errorsByCode[r.error!] = (errorsByCode[r.error!] ?? 0) + 1;
  return {
    records,
    sent: records.length,
    answered: records.filter((r) => r.outcome === 'answered').length,
    errored: records.filter((r) => r.outcome === 'errored').length,
    duplicates: records.filter((r) => r.outcome === 'wrong').length + records.reduce((n, r) => n + Math.max(0, r.settles - 1), 0),
    lost: records.filter((r) => r.outcome === undefined).length,
    errorsByCode,
    startedAt,
    endedAt,
  };
}

function describeError(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * How long after `faultAt` callers were whole again: every call in flight at that moment
 * settled, and a call sent after it answered. Null when no call was sent after it.
 */
export function recoveryMs(records: CallRecord[], faultAt: number): number | null {
  let end = faultAt;
  let firstAfter: number | null = null;
  for (const r of records) {
    if (r.settledAt === undefined) continue;
    if (r.sentAt <= faultAt && r.settledAt > faultAt) end = Math.max(end, r.settledAt);
    if (r.sentAt > faultAt && r.outcome === 'answered') firstAfter = firstAfter === null ? r.settledAt : Math.min(firstAfter, r.settledAt);
  }
  if (firstAfter === null) return null;
  return Math.max(end, firstAfter) - faultAt;
}

// --- the report row -------------------------------------------------------------------

export interface FaultResult {
  id: string;
  fault: string;
  /** What was done, in a sentence, with the numbers that matter (downtime, kills). */
  action: string;
  sent: number;
  answered: number;
  errored: number;
  lost: number;
  duplicates: number;
  /** Second replies that reached a client and were dropped there (at-least-once at work). */
  redundantReplies: number;
  recoveryMs: number | null;
  /** What recovery is measured from, for this fault. */
  recoveryFrom: string;
  durationMs: number;
  errorsByCode: Record<string, number>;
  /** Scenario-specific facts the test asserts (e.g. calls answered by the surviving instance). */
  facts: Record<string, number | string | boolean>;
  skipped?: string;
}

export function resultFrom(
  load: LoadOutcome,
  fields: Omit<FaultResult, 'sent' | 'answered' | 'errored' | 'lost' | 'duplicates' | 'errorsByCode' | 'durationMs'>,
): FaultResult {
  return {
    ...fields,
    sent: load.sent,
    answered: load.answered,
    errored: load.errored,
    lost: load.lost,
    duplicates: load.duplicates,
    errorsByCode: load.errorsByCode,
    durationMs: load.endedAt - load.startedAt,
  };
}

// --- enoki run in a child process -------------------------------------------------------

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `node bin/enoki.js run <args>`; resolves once it logs that it is running. `onSpawn` gets
 * the process at once, to watch its output while it starts.
 */
export async function startEnoki(args: string[], env: NodeJS.ProcessEnv = {}, readyWithinMs = 30_000, onSpawn?: (proc: ServiceProcess) => void): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['bin/enoki.js', 'run', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const proc: ServiceProcess = { child, output: () => text, exited };
  onSpawn?.(proc);
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitUntil('enoki run to start', () => gone || text.includes('enoki running'), readyWithinMs);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; output:\n${text}`);
  }
  if (gone) throw new Error(`enoki run exited at start; output:\n${text}`);
  return proc;
}

export async function stopProcess(proc: ServiceProcess | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGKILL');
  await proc.exited;
}
