// Long tasks and RabbitMQ's consumer_timeout. A request is acknowledged only after its
// reply, so a call that runs longer than the broker's consumer_timeout (30 min by default)
// has its channel closed under it and its request requeued. `@cpuBound({ maxSeconds })`
// says how long a method's calls may run; from it this file works out how long a request
// of the service queue may stay unacknowledged, and what to do about the broker:
//
// - RabbitMQ 3.12 and later take a per-queue timeout: the `x-consumer-timeout` queue
//   argument, or a policy's `consumer-timeout`. Only the argument can be set from an AMQP
//   client (a policy needs rabbitmqctl or the management API), and only when the queue is
//   first declared: RabbitMQ refuses to redeclare a queue with other arguments
//   (406 "inequivalent arg"). That refusal is explained by consumerTimeoutArgumentError.
// - Older brokers (3.10 here) have only the node-wide `consumer_timeout`, which a client
//   cannot read or change: the service logs once what to set, in rabbitmq.conf or
//   advanced.config.
//
// The 3.12 branch is unit-tested with a faked server version only; no 3.12 broker ran here.

import { EnokiError } from '../errors.js';

/** RabbitMQ's consumer_timeout when rabbitmq.conf does not set it: 30 minutes. */
export const BROKER_DEFAULT_CONSUMER_TIMEOUT_MS = 30 * 60 * 1000;

/** Time left after the longest wait and run for the reply to be published and confirmed. */
export const REPLY_MARGIN_MS = 60_000;

/** The broker's version from its server properties ('3.10.8'), as numbers; undefined if unreadable. */
export function parseBrokerVersion(version: string | undefined): [major: number, minor: number, patch: number] | undefined {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version ?? '');
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

/** Whether this broker takes a per-queue consumer timeout (RabbitMQ 3.12 and later). */
export function takesQueueConsumerTimeout(version: string | undefined): boolean {
  const parsed = parseBrokerVersion(version);
  return parsed !== undefined && (parsed[0] > 3 || (parsed[0] === 3 && parsed[1] >= 12));
}

/**
 * How long a request of the queue may stay unacknowledged, in ms, when its calls run up to
 * `maxSeconds`. A delivery can wait for a worker before it runs: the consumer holds up to
 * `maxPendingReplies` deliveries beyond the `maxWorkers` running, so the last of them waits
 * for ceil(maxPendingReplies / maxWorkers) rounds of calls, then runs its own.
 */
export function unacknowledgedForMs(maxSeconds: number, maxWorkers: number, maxPendingReplies: number): number {
  const rounds = 1 + Math.ceil(maxPendingReplies / Math.max(1, maxWorkers));
  return Math.ceil(rounds * maxSeconds * 1000) + REPLY_MARGIN_MS;
}

/** What a service with long tasks asks of the broker (see planLongTasks). */
export interface LongTaskPlan {
  /** The longest `maxSeconds` of the queue's methods, and which method declares it. */
  readonly longest: { readonly method: string; readonly maxSeconds: number };
  /** How long a request may stay unacknowledged (unacknowledgedForMs). */
  readonly timeoutMs: number;
  /** Queue arguments to declare the queue with (RabbitMQ 3.12+), else undefined. */
  readonly queueArguments?: Readonly<Record<string, number>>;
  /** What to log once on a broker that cannot take the timeout per queue, and at which level. */
  readonly notice?: { readonly level: 'warn' | 'info'; readonly error: EnokiError };
}

/** The inputs of planLongTasks. */
export interface LongTaskInputs {
  /** The service queue, e.g. 'rpc-report_service'. */
  readonly queue: string;
  /** `<service>.<method>` and its maxSeconds, for each method that declares one. */
  readonly methods: ReadonlyArray<{ readonly method: string; readonly maxSeconds: number }>;
  /** The broker's version from its server properties; undefined when unknown. */
  readonly brokerVersion: string | undefined;
  /** The service's max_workers. */
  readonly maxWorkers: number;
  /** The service's MAX_PENDING_REPLIES. */
  readonly maxPendingReplies: number;
}

/** What the service queue needs for its long tasks; undefined when no method declares maxSeconds. */
export function planLongTasks(inputs: LongTaskInputs): LongTaskPlan | undefined {
  let longest: LongTaskPlan['longest'] | undefined;
  for (const entry of inputs.methods) if (!longest || entry.maxSeconds > longest.maxSeconds) longest = entry;
  if (!longest) return undefined;
  const timeoutMs = unacknowledgedForMs(longest.maxSeconds, inputs.maxWorkers, inputs.maxPendingReplies);
  if (takesQueueConsumerTimeout(inputs.brokerVersion)) {
    return { longest, timeoutMs, queueArguments: { 'x-consumer-timeout': timeoutMs } };
  }
  const waitNote =
    inputs.maxPendingReplies > 0
      ? ` (${inputs.maxPendingReplies} requests waiting for ${inputs.maxWorkers} workers: MAX_PENDING_REPLIES: 0 brings it down to ${unacknowledgedForMs(longest.maxSeconds, inputs.maxWorkers, 0)} ms)`
      : '';
  const error = new EnokiError('ENOKI_ERR_LONG_TASK_BROKER', [
    longest.method,
    longest.maxSeconds,
    inputs.queue,
    `${timeoutMs} ms${waitNote}`,
    inputs.brokerVersion ? `RabbitMQ ${inputs.brokerVersion}` : 'this broker (its version is unknown)',
    timeoutMs,
    timeoutMs,
  ]);
  return { longest, timeoutMs, notice: { level: timeoutMs > BROKER_DEFAULT_CONSUMER_TIMEOUT_MS ? 'warn' : 'info', error } };
}

/** RabbitMQ refusing the queue's x-consumer-timeout: an existing queue with other arguments, or a queue type that does not take it. */
const ARGUMENT_REFUSED = /(inequivalent|invalid) arg 'x-consumer-timeout'/i;

/**
 * The coded error explaining a declaration refused over `x-consumer-timeout`, or undefined
 * when `err` is about something else.
 */
export function consumerTimeoutArgumentError(err: Error, queue: string, timeoutMs: number): EnokiError | undefined {
  if (!ARGUMENT_REFUSED.test(err.message)) return undefined;
  return new EnokiError('ENOKI_ERR_CONSUMER_TIMEOUT_ARGUMENT', [queue, err.message, queue, queue, timeoutMs]);
}
