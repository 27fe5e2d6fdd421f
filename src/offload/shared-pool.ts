// The worker-thread pool(s) of this process.
//
// One pool per process (per distinct POOL config, which in practice means one), shared by
// every container in it: threads default to the number of cores, and a second pool would
// only make two sets of threads fight over the same cores while each service's statics
// (a loaded model) were duplicated per pool. A service's threads import the modules of
// every @cpuBound service they serve, so statics live once per thread, per service.
//
// Threads: at least one stays alive (the one warmed at start, with its statics loaded);
// more start on demand up to POOL.threads and end after POOL.idle_timeout idle seconds.
// Queue: piscina queues what has no thread. POOL.max_queue 'auto' adds no bound of its own:
// a container already admits at most max_workers calls at a time (the RPC prefetch and
// its semaphore), so the queue holds at most the sum of those; a number caps the waiting
// tasks across the pool, beyond which a call fails with ENOKI_ERR_POOL_FULL instead of
// waiting.

import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { MessagePort } from 'node:worker_threads';
import type { PoolConfig } from '../config.js';
import { isThreadMessage, type OffloadTask, type TaskReturn, type ThreadMessage } from '../../workers/protocol.js';

// Installed, this file is dist/src/offload/shared-pool.js and threads start from the
// compiled entry beside it. Run from source (this repository), it is a .ts file and threads
// start from an entry that registers tsx for enoki's own TypeScript first.
const POOL_THREAD = new URL(import.meta.url.endsWith('.ts') ? '../../workers/dev-thread.mjs' : '../../workers/pool-thread.js', import.meta.url).href;

export type ThreadMessageHandler = (message: ThreadMessage) => void;

export class SharedPool {
  readonly piscina: Piscina<OffloadTask, TaskReturn>;
  readonly threads: number;
  /** Tasks allowed to wait for a thread; Infinity for 'auto'. */
  readonly queueLimit: number;
  users = 0;
  /**
   * Tasks a thread has started and not finished. Counted only for tasks that report their
   * start (those with a timeout, and all of them while metrics listen): a metrics gauge.
   */
  busy = 0;
  private inPool = 0;
  private readonly handlers = new Map<number, ThreadMessageHandler>();
  private readonly leaving = new Map<number, () => void>();

  constructor(
    readonly key: string,
    config: PoolConfig,
    logger: Logger,
  ) {
    this.threads = config.threads;
    this.queueLimit = config.maxQueue === 'auto' ? Infinity : config.maxQueue;
    this.piscina = new Piscina<OffloadTask, TaskReturn>({
      filename: POOL_THREAD,
      name: 'default',
      minThreads: 1,
      maxThreads: config.threads,
      idleTimeout: config.idleTimeout * 1000,
      // Admission is ours (see queueLimit); piscina only reports "queue at limit" by message text.
      maxQueue: Infinity,
      resourceLimits: config.maxMemoryMb === null ? undefined : { maxOldGenerationSizeMb: config.maxMemoryMb },
      // Nothing reads piscina's histograms; skip their bookkeeping on the main thread.
      recordTiming: false,
    });
    this.piscina.on('message', (message: unknown) => {
      if (!isThreadMessage(message)) return;
      const handler = this.handlers.get(message.key);
      if (handler) handler(message);
      // A dependency port for a call that is already over (aborted): nobody will serve it.
      else if (message.kind === 'port') (message.port as MessagePort).close();
    });
    // A thread that fails while running no task (there is no call to answer) is reported
    // here; without a listener EventEmitter would throw it into the main thread.
    this.piscina.on('error', (err: unknown) => {
      logger.error({ err }, 'a worker pool thread failed outside any call');
      for (const listener of this.errorListeners) listener(err);
    });
  }

  private readonly errorListeners = new Set<(err: unknown) => void>();

  /**
   * The next error piscina reports outside a task. A thread that fails while starting
   * (before it could take a task) is one: piscina then stops starting threads, and tasks
   * already queued would wait forever, so whoever waits on a first task races this.
   */
  nextError(): { promise: Promise<never>; cancel(): void } {
    let listener!: (err: unknown) => void;
    const promise = new Promise<never>((_resolve, reject) => {
      listener = (err) => {
        this.errorListeners.delete(listener);
        reject(err);
      };
      this.errorListeners.add(listener);
    });
    promise.catch(() => undefined);
    return { promise, cancel: () => this.errorListeners.delete(listener) };
  }

  /** Tasks that would wait for a thread right now. */
  get waiting(): number {
    return Math.max(0, this.inPool - this.threads);
  }

  /** True when one more task would have to wait beyond POOL.max_queue. */
  get full(): boolean {
    return this.inPool - this.threads >= this.queueLimit;
  }

  run(task: OffloadTask, signal?: AbortSignal, onMessage?: ThreadMessageHandler): Promise<TaskReturn> {
    this.inPool++;
    let counted = true;
    const leave = (): void => {
      if (!counted) return;
      counted = false;
      this.inPool--;
      if (task.kind === 'call') this.leaving.delete(task.key);
    };
    if (task.kind === 'call') {
      if (onMessage) this.handlers.set(task.key, onMessage);
      this.leaving.set(task.key, leave);
    }
    const done = this.piscina.run(task, { signal: signal ?? null });
    done.then(leave, leave);
    return done;
  }

  /**
   * The call is over (its outcome arrived): stop routing its messages and stop counting
   * it. Its outcome can arrive before piscina hears that the task returned (two ports, no
   * order between them); counting it until then would refuse a caller's next call with
   * POOL_FULL right after its previous one was answered.
   */
  forget(key: number): void {
    this.handlers.delete(key);
    this.leaving.get(key)?.();
  }
}

const pools = new Map<string, SharedPool>();

export function acquirePool(config: PoolConfig, logger: Logger): SharedPool {
  const key = JSON.stringify([config.threads, config.idleTimeout, config.maxQueue, config.maxMemoryMb]);
  let pool = pools.get(key);
  if (!pool) {
    pool = new SharedPool(key, config, logger);
    pools.set(key, pool);
  }
  pool.users++;
  return pool;
}

/** The pools alive in this process (metrics read their threads and queue). */
export function livePools(): Iterable<SharedPool> {
  return pools.values();
}

/** The last user's release ends the pool's threads. */
export async function releasePool(pool: SharedPool): Promise<void> {
  if (--pool.users > 0) return;
  if (pools.get(pool.key) === pool) pools.delete(pool.key);
  await pool.piscina.destroy();
}
