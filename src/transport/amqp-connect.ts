// Opening the broker connection: amqplib's recovering connection (capped exponential
// back-off with jitter), plus what startup needs on top of it. At startup the broker may
// come later than the service (docker compose, systemd ordering, a broker restarting), so
// a failure that waiting can fix is retried, with one warn line per retry naming the
// cause and the delay, until STARTUP_TIMEOUT; a failure that waiting cannot fix (a wrong
// password, a missing vhost, a TLS or protocol mismatch) fails at once. Once connected,
// the connection recovers forever, with the same cause in each retry's log line.
//
// With an AMQP_URI list, each attempt goes to one node (broker-rotation.ts picks which);
// a failure is classified against the node that was tried, and a startup that gives up
// names the last failure of every node it tried.

import amqp, { type ChannelModel, type Options, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import { EnokiError } from '../errors.js';
import type { AmqpUriOrder } from '../config-amqp-uri.js';
import { BrokerRotation, connectFields } from './broker-rotation.js';
import { classifyConnectError, withStartupNote, type BrokerTarget } from './connect-failure.js';

/** One broker to connect to: amqplib's URI (password included, heartbeat in the query) and what errors may say of it. */
export interface BrokerEndpoint {
  url: string;
  target: BrokerTarget;
}

export interface BrokerConnectOptions {
  /** The brokers, in the configured order: one URI, or the nodes of a cluster. */
  brokers: readonly BrokerEndpoint[];
  /** The order a list is tried in (AMQP_URI_ORDER); ignored for one broker. */
  order?: AmqpUriOrder;
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
  /** Told which broker each attempt goes to, before it is made (logs and messages name it). */
  onTarget?: (target: BrokerTarget) => void;
}

/** Back-off between attempts: 200 ms doubling to a 5 s cap, ±30 % jitter so restarted fleets do not reconnect in step. */
const RECOVERY = { initialDelay: 200, maxDelay: 5000, factor: 2, jitter: 0.3 };

/** Connect, waiting for the broker as above; rejects with the cause's coded error. */
export async function connectToBroker(options: BrokerConnectOptions): Promise<RecoveringChannelModel> {
  const { logger, scrub, brokers } = options;
  const started = Date.now();
  let attempts = 0;
  let connectedOnce = false;
  let lastFailure: { raw: Error; coded: EnokiError; target: BrokerTarget } | undefined;
  /** The last failure of each broker tried, by list index: a startup that gives up names them all. */
  const failures = new Map<number, EnokiError>();
  let fatal: EnokiError | undefined;
  const classify = (err: unknown, target: BrokerTarget): EnokiError => classifyConnectError(err, target, scrub);

  // One broker: amqplib gets its URI as a string, as always. A list: one Options.Connect
  // object, rewritten before each attempt (amqplib reads it afresh every time).
  const rotation = brokers.length > 1 ? new BrokerRotation(brokers.map((b) => ({ url: b.url, displayUri: b.target.displayUri })), options.order ?? 'ordered') : undefined;
  const address: Options.Connect = {};
  const current = (): { index: number; target: BrokerTarget } => {
    const index = rotation ? rotation.currentIndex : 0;
    return { index, target: brokers[index]!.target };
  };
  const aim = (): void => {
    if (rotation) Object.assign(address, connectFields(rotation.current.url));
    options.onTarget?.(current().target);
  };
  aim();

  let connection: RecoveringChannelModel;
  try {
    connection = await amqp.connect(rotation ? address : brokers[0]!.url, {
      ...options.socketOptions,
      recovery: {
        ...RECOVERY,
        maxRetries: Infinity,
        initialMaxRetries: Infinity,
        // Listeners first, then the first attempt: its failures are logged too.
        waitForConnect: false,
        setup: options.setup,
        ...(rotation && { calculateDelay: (attempt: number) => rotation.delay(attempt, RECOVERY) }),
      },
    });
  } catch (err) {
    throw classify(err, current().target);
  }
  options.attach(connection);
  connection.on('connect', () => {
    connectedOnce = true;
    failures.clear();
  });
  connection.on('connect-failed', (err: Error) => {
    attempts++;
    const { index, target } = current();
    const coded = classify(err, target);
    lastFailure = { raw: err, coded, target };
    failures.set(index, coded);
    // Closing stops amqplib's retries; waitForConnect() below then rejects. A wrong
    // password or vhost is wrong on every node of a cluster (users and vhosts are
    // cluster-wide), so one such answer is enough.
    if (!connectedOnce && !coded.retryable && !fatal) {
      fatal = coded;
      connection.close().catch(() => undefined);
      return;
    }
    rotation?.advance();
    aim();
  });
  // The lost node goes to the back of the line.
  connection.on('disconnect', () => {
    rotation?.advance();
    aim();
  });
  connection.on('reconnect-scheduled', ({ attempt, delay, error }: { attempt: number; delay: number; error: Error }) => {
    if (options.closed()) return;
    const failure = lastFailure?.raw === error ? lastFailure : undefined;
    const next = rotation ? { next: current().target.displayUri } : {};
    if (!failure) {
      logger.info({ uri: current().target.displayUri, attempt, delay }, 'AMQP reconnect scheduled');
      return;
    }
    // A stable message with the cause and the delay as fields: log searches and alerts
    // match the message, people read the fields.
    logger.warn(
      {
        uri: failure.target.displayUri,
        code: failure.coded.code,
        cause: failure.coded.message,
        attempt,
        retryInMs: delay,
        ...next,
        ...(connectedOnce ? {} : startupLeft(started, options.startupTimeoutMs)),
      },
      'AMQP connection attempt failed',
    );
  });
  connection.on('reconnect-failed', (err: Error) => logger.error({ uri: current().target.displayUri, err: scrub(err.message) }, 'AMQP reconnecting gave up'));

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
      const coded = withEachBroker(classify(lastFailure.raw, lastFailure.target), brokers, failures);
      throw timedOut ? withStartupNote(coded, attempts, waited) : coded;
    }
    const { target } = current();
    // The first attempt was still waiting for an answer when startup gave up on it.
    if (timedOut) throw withStartupNote(new EnokiError('ENOKI_ERR_BROKER_TIMEOUT', [target.displayUri, target.address, `no answer within ${waited} ms`, target.port]), 1, waited);
    throw new EnokiError('ENOKI_ERR_CONNECT', [target.displayUri, scrub(String((err as Error)?.message ?? err))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * With a list, the error of the last attempt plus what every other broker tried last
 * answered: "connection refused" on node 3 says little if node 1 refused the password.
 */
function withEachBroker(err: EnokiError, brokers: readonly BrokerEndpoint[], failures: ReadonlyMap<number, EnokiError>): EnokiError {
  if (brokers.length < 2) return err;
  const each = brokers.map((broker, index) => {
    const failure = failures.get(index);
    // The cause only: each error's "Next:" advice would repeat for every broker.
    return `${broker.target.displayUri}: ${failure ? `${failure.code} ${failure.message.split('. Next:')[0]}` : 'not tried'}`;
  });
  err.message += ` [every broker of AMQP_URI, last answer: ${each.join(' | ')}]`;
  return err;
}

/** How long startup goes on waiting, as a log field. */
function startupLeft(started: number, timeoutMs: number): { startupGivesUpInS: number | 'never' } {
  if (!Number.isFinite(timeoutMs)) return { startupGivesUpInS: 'never' };
  return { startupGivesUpInS: Math.ceil(Math.max(0, timeoutMs - (Date.now() - started)) / 1000) };
}
