// The config an `enoki` command runs with, shared by run, show-config, call and shell.

import { existsSync } from 'node:fs';
import { loadConfig, type EnokiConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';

/**
 * The config a command runs with: --config, else ./config.yaml when there is one, else the
 * defaults; then the environment (for a file or the defaults), then --broker. Precedence:
 * defaults < file < environment < flags.
 */
export function readConfig(path: string | undefined, broker: string | undefined): EnokiConfig {
  const file = path ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  const config = loadConfig(file, { onWarning: (message) => process.stderr.write(`enoki: warning: ${message}\n`) });
  if (!broker) return config;
  // Validated and normalised (pyamqp://) by the same rules as AMQP_URI in a file.
  return { ...config, AMQP_URI: loadConfig({ AMQP_URI: broker }).AMQP_URI };
}

const DEFAULT_CONFIG_FILE = 'config.yaml';

/**
 * The logger of a command that talks to the user on the terminal (call, shell): the
 * configured one, but never chattier than warn, so "AMQP connected" does not bury the
 * answer; retries while waiting for the broker are warnings and still show.
 */
export function terminalLogger(config: EnokiConfig, name: string): Logger {
  const quiet = ['trace', 'debug', 'info'].includes(config.LOGGING.level);
  return createLogger(quiet ? { ...config.LOGGING, level: 'warn' } : config.LOGGING, name);
}
