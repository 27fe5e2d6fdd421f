// GreetingService: the seed project's first service, in enoki.

import { cpuBound, rpc, yieldEvery, ExpectedError } from 'enoki';
import { LoggingDependency } from '../../utils/dependencies.js';

/** An application error a caller sees as RemoteError with excType 'AppError'. */
export class AppError extends Error {
  override name = 'AppError';
}

/** Raised for bad input: logged as a warning without a stack, not as a failure. */
export class InvalidName extends ExpectedError {}

/** Spin the CPU for `seconds` without yielding: a stand-in for real computation. */
function busyFor(seconds: number): number {
  const end = Date.now() + seconds * 1000;
  let spins = 0;
  while (Date.now() < end) spins++;
  return spins;
}

export class GreetingService {
  static name = 'greeting_service';

  log = new LoggingDependency();

  @rpc
  hello(name: string) {
    if (typeof name !== 'string' || name.length === 0) throw new InvalidName('name must be a non-empty string');
    return `Hello, ${name}!`;
  }

  @rpc
  greet(name: string, punct = '!', times = 1) {
    return Array.from({ length: times }, () => `Hello, ${name}${punct}`);
  }

  @rpc
  echo(value: unknown) {
    return value;
  }

  @rpc
  raise_exception() {
    throw new Error('boom');
  }

  @rpc
  raise_app_error() {
    throw new AppError('custom failure');
  }

  /**
   * The pitfall, kept on purpose: a busy loop inline blocks the event loop, so no AMQP
   * heartbeat goes out. Run it longer than two heartbeat intervals and RabbitMQ drops the
   * connection, the request goes back to the queue and runs again, forever. enoki's
   * watchdog logs a warning naming this method. Do not write services like this.
   */
  @rpc
  computation_bound(seconds: number) {
    busyFor(seconds);
    return 'done';
  }

  /** The same work, yielding to the event loop every 50 ms so heartbeats keep flowing. */
  @rpc
  async computation_bound_yield(seconds: number) {
    const tick = yieldEvery(50);
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) await tick();
    return 'done';
  }

  /** The same work in a worker-pool thread: the main event loop never notices. */
  @rpc
  @cpuBound
  computation_bound_pool(seconds: number) {
    busyFor(seconds);
    return 'done';
  }
}
