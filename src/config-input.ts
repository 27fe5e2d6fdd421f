// What the programmatic entry points (ClusterRpcProxy.connect, ServiceContainer,
// ServiceRunner) accept as config: a config already loaded with loadConfig(), a path to a
// YAML file, or a mapping in config-file spelling, as nameko's `ClusterRpcProxy(config)`
// takes a dict. `connect({ AMQP_URI })` from a plain JavaScript script must work, not
// fail later on a missing key.

import { DEFAULT_CONFIG, loadConfig, type EnokiConfig } from './config.js';

/** A loaded config, a YAML file's path, or a mapping of config keys (`{ AMQP_URI: '...' }`). */
export type ConfigInput = EnokiConfig | string | Readonly<Record<string, unknown>>;

const LOADED_KEYS = Object.keys(DEFAULT_CONFIG);

/** The loaded config for any {@link ConfigInput}; undefined means the defaults. */
export function resolveConfig(input?: ConfigInput): EnokiConfig {
  if (input === undefined || typeof input === 'string') return loadConfig(input);
  return isLoaded(input) ? input : loadConfig(input as Record<string, unknown>);
}

/** loadConfig's output has every key, and POOL in its loaded (camelCase) shape. */
function isLoaded(input: object): input is EnokiConfig {
  const pool = (input as { POOL?: unknown }).POOL;
  return LOADED_KEYS.every((key) => key in input) && typeof pool === 'object' && pool !== null && 'idleTimeout' in pool;
}
