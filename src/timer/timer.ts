// @timer(seconds, { eager }): nameko's timer entrypoint. The method runs every `seconds`
// through the container's worker path (hooks, max_workers, @cpuBound), with no arguments.
//
// Scheduling, as nameko's @timer(interval, eager):
// - the next tick is due `seconds` after the *start* of the previous one, so a method that
//   takes a while does not make the timer drift by its own duration;
// - a tick never overlaps the previous one: if a tick runs past its interval, the next
//   starts as soon as it ends (ticks are not stacked up to catch up);
// - `eager` runs the first tick at start; otherwise the first is one interval after start.
// A tick that throws is logged by the container with its stack, and the timer keeps going.
// On stop no new tick starts; a running one is finished by the container's graceful stop
// (within POOL.shutdown_grace when it runs in the pool).

import { checkDecoratorOptions } from '../decorator-options.js';
import { performance } from 'node:perf_hooks';
import { defineEntrypoint, MethodEntrypoint } from '../entrypoint.js';
import { EnokiError } from '../errors.js';

/** Options of {@link timer}. */
export interface TimerOptions {
  /** Run the first tick when the service starts instead of one interval later (default false). */
  eager?: boolean;
}

/** What a @timer mark holds. */
export interface TimerMark {
  intervalMs: number;
  eager: boolean;
}

/** One @timer method's schedule. */
export class TimerEntrypoint extends MethodEntrypoint<TimerMark> {
  private handle: NodeJS.Timeout | null = null;
  private running = false;

  start(): void {
    this.running = true;
    this.schedule(this.options.eager ? 0 : this.options.intervalMs);
  }

  stop(): void {
    this.running = false;
    if (this.handle) clearTimeout(this.handle);
    this.handle = null;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.handle = setTimeout(() => {
      this.handle = null;
      void this.tick();
    }, delayMs);
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    const startedAt = performance.now();
    // The outcome's error has been logged by the container; nothing more to do with it.
    await this.spawn([]);
    this.schedule(Math.max(0, startedAt + this.options.intervalMs - performance.now()));
  }
}

/**
 * Runs the method every `seconds` (fractions allowed): `@timer(30)`, or
 * `@timer(5, { eager: true })` to run once at start too. As nameko's `@timer(interval, eager)`.
 */
export const timer = defineEntrypoint('timer', TimerEntrypoint, (seconds: number, options: TimerOptions = {}): TimerMark => {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['timer', String(seconds), 'the interval is a positive number of seconds']);
  }
  // setTimeout holds at most 2^31-1 ms (about 24.8 days); past that Node fires at once.
  if (seconds * 1000 > 2 ** 31 - 1) {
    throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['timer', String(seconds), 'the interval must be under 24.8 days']);
  }
  checkDecoratorOptions('timer', options, ['eager']);
  return { intervalMs: seconds * 1000, eager: options.eager === true };
});
