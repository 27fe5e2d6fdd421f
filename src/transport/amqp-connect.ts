// Opening the broker connection: amqplib's recovering connection (capped exponential
// back-off with jitter), plus what startup needs on top of it. At startup the broker may
// come later than the service (docker compose, systemd ordering, a broker restarting), so
// a failure that waiting can fix is retried, with one warn line per retry naming the
// cause and the delay, until STARTUP_TIMEOUT; a failure that waiting cannot fix (a wrong
// password, a missing vhost, a TLS or protocol mismatch) fails at once. Once connected,
// the connection recovers forever, with the same cause in each retry's log line.

import amqp, { type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { EnokiError } from '../errors.js';
import { classifyConnectError, withStartupNote, type BrokerTarget } from './connect-failure.js';

export interface BrokerConnectOptions {
  /** The URI amqplib gets (password included, heartbeat in the query). */
  url: string;
  target: BrokerTarget;
  socketOptions: Record<string, unknown>;
  logger: Logger;
  /** How long startup retries a retryable failure; Infinity waits forever. */
  startupTimeoutMs: number;
  /** Runs after every (re)connect; a throw makes amqplib retry (see AmqpTransport.onConnected). */
  setup: (model: ChannelModel) => Promise<void>;
  /** Listeners go on here, before the first attempt, so its events are seen. */
  attach: (connection: RecoveringChannelModel) => void;
  /** Password-free text. */
  scrub: (text: string) => string;
  /** True once the owner closed: nothing to log any more. */
  closed: () => boolean;
}

/** Back-off between attempts: 200 ms doubling to a 5 s cap, ±30 % jitter so restarted fleets do not reconnect in step. */
const RECOVERY = { initialDelay: 200, maxDelay: 5000, factor: 2, jitter: 0.3 };

/** Connect, waiting for the broker as above; rejects with the cause's coded error. */
export async function connectToBroker(options: BrokerConnectOptions): Promise<RecoveringChannelModel> {
  const { target, logger, scrub } = options;
  const started = Date.now();
  let attempts = 0;
  let connectedOnce = false;
  let lastFailure: { raw: Error; coded: EnokiError } | undefined;
  let fatal: EnokiError | undefined;
  const classify = (err: unknown): EnokiError => classifyConnectError(err, target, scrub);

  let connection: RecoveringChannelModel;
  try {
    connection = await amqp.connect(options.url, {
      ...options.socketOptions,
      recovery: {
        ...RECOVERY,
        maxRetries: Infinity,
        initialMaxRetries: Infinity,
        // Listeners first, then the first attempt: its failures are logged too.
        waitForConnect: false,
        setup: options.setup,
      },
    });
  } catch (err) {
    throw classify(err);
  }
  options.attach(connection);
  connection.on('connect', () => {
    connectedOnce = true;
  });
  connection.on('connect-failed', (err: Error) => {
    attempts++;
    const coded = classify(err);
    lastFailure = { raw: err, coded };
    // Closing stops amqplib's retries; waitForConnect() below then rejects.
    if (!connectedOnce && !coded.retryable && !fatal) {
      fatal = coded;
      connection.close().catch(() => undefined);
    }
  });
  connection.on('reconnect-scheduled', ({ attempt, delay, error }: { attempt: number; delay: number; error: Error }) => {
    if (options.closed()) return;
    const failure = lastFailure?.raw === error ? lastFailure.coded : undefined;
    if (!failure) {
      logger.info({ uri: target.displayUri, attempt, delay }, 'AMQP reconnect scheduled');
      return;
    }
    // A stable message with the cause and the delay as fields: log searches and alerts
    // match the message, people read the fields.
    logger.warn(
      { uri: target.displayUri, code: failure.code, cause: failure.message, attempt, retryInMs: delay, ...(connectedOnce ? {} : startupLeft(started, options.startupTimeoutMs)) },
      'AMQP connection attempt failed',
    );
  });
  connection.on('reconnect-failed', (err: Error) => logger.error({ uri: target.displayUri, err: scrub(err.message) }, 'AMQP reconnecting gave up'));

  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  if (Number.isFinite(options.startupTimeoutMs)) {
    timer = setTimeout(() => {
      timedOut = true;
      connection.close().catch(() => undefined);
    }, options.startupTimeoutMs);
  }
  try {
    await connection.waitForConnect();
    return connection;
  } catch (err) {
    await connection.close().catch(() => undefined);
    if (fatal) throw fatal;
    const waited = Date.now() - started;
    if (lastFailure) {
      const coded = classify(lastFailure.raw);
      throw timedOut ? withStartupNote(coded, attempts, waited) : coded;
    }
    // The first attempt was still waiting for an answer when startup gave up on it.
    if (timedOut) throw withStartupNote(new EnokiError('ENOKI_ERR_BROKER_TIMEOUT', [target.displayUri, target.address, `no answer within ${waited} ms`, target.port]), 1, waited);
    throw new EnokiError('ENOKI_ERR_CONNECT', [target.displayUri, scrub(String((err as Error)?.message ?? err))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** How long startup goes on waiting, as a log field. */
function startupLeft(started: number, timeoutMs: number): { startupGivesUpInS: number | 'never' } {
  if (!Number.isFinite(timeoutMs)) return { startupGivesUpInS: 'never' };
  return { startupGivesUpInS: Math.ceil(Math.max(0, timeoutMs - (Date.now() - started)) / 1000) };
}
