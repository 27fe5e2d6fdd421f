// pino, configured from LOGGING. Pretty output on a TTY, JSON lines otherwise (what log
// shippers read). Writes are asynchronous (sonic-boom) so a burst of logs never holds the
// event loop that carries the AMQP heartbeat.

import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LoggingConfig } from './config.js';

export type { Logger } from 'pino';

const REDACT = ['password', '*.password', 'AMQP_URI', '*.AMQP_URI', 'auth_token', '*.auth_token', 'authorization', '*.authorization'];

/**
 * A pino logger configured from a config's LOGGING: its level; its destination (stderr,
 * stdout, or a file, whose directories are created); pretty output on a terminal and JSON
 * lines otherwise (`pretty: 'auto'`). Writes are asynchronous, so a burst of logs never
 * holds the event loop that carries the AMQP heartbeat. Values under the keys `password`,
 * `AMQP_URI`, `auth_token` and `authorization` (at the top level of a logged object or one
 * level down) are written as `***`.
 *
 * @param logging - The LOGGING section of a loaded config.
 * @param name - The logger's `name` field (default `'enoki'`).
 */
export function createLogger(logging: LoggingConfig, name = 'enoki'): Logger {
  const toFile = logging.destination !== 'stderr' && logging.destination !== 'stdout';
  const fd = logging.destination === 'stdout' ? 1 : 2;
  const isTty = !toFile && Boolean(fd === 1 ? process.stdout.isTTY : process.stderr.isTTY);
  const usePretty = logging.pretty === 'auto' ? isTty : logging.pretty;
  const options = { name, level: logging.level, redact: { paths: REDACT, censor: '***' } };
  if (usePretty) {
    const stream = toFile
      ? pretty({ destination: logging.destination, colorize: false, mkdir: true, sync: false })
      : pretty({ destination: fd, colorize: isTty, sync: false });
    return pino(options, stream);
  }
  const destination = toFile
    ? pino.destination({ dest: logging.destination, mkdir: true, sync: false })
    : pino.destination({ dest: fd, sync: false });
  return pino(options, destination);
}

/** A logger that drops everything: for tests that assert on behaviour, not output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
