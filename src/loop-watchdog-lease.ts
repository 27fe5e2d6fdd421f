// The event loop is one per process, so one watchdog serves every container in it: the
// first container to start creates it, the last to stop ends it. Its warnings go to the
// logger of the container that started it, naming whichever service method was running.

import type { Logger } from 'pino';
import { formatBlockedWarning, LoopWatchdog } from './loop-watchdog.js';

export interface WatchdogLease {
  /** Mark an inline call as running; call the returned function when it ends. */
  enter(service: string, method: string): () => void;
  release(): void;
}

let shared: { watchdog: LoopWatchdog; users: number; thresholdMs: number } | null = null;

export function acquireWatchdog(thresholdMs: number, logger: Logger): WatchdogLease {
  if (!shared) {
    const watchdog = new LoopWatchdog({
      thresholdMs,
      onBlocked: (report) => logger.warn({ blockedMs: Math.round(report.blockedMs), running: report.running }, formatBlockedWarning(report)),
    });
    watchdog.start();
    shared = { watchdog, users: 0, thresholdMs };
  }
  const entry = shared;
  entry.users++;
  let released = false;
  return {
    enter: (service, method) => entry.watchdog.enter(service, method),
    release: () => {
      if (released) return;
      released = true;
      entry.users--;
      if (entry.users === 0 && shared === entry) {
        entry.watchdog.stop();
        shared = null;
      }
    },
  };
}

/**
 * The shared watchdog's event-loop delay (p50/p99/max in ms since the last reset), then
 * reset, for metrics; undefined while no container runs (no watchdog then).
 */
export function takeLoopDelayStats(): { p50: number; p99: number; max: number; count: number } | undefined {
  if (!shared) return undefined;
  const stats = shared.watchdog.stats();
  shared.watchdog.resetStats();
  return stats;
}
