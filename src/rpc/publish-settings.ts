// How RPC requests and replies are published: body format (SERIALIZER), delivery mode
// (DELIVERY_MODE) and whether each publish waits for the broker's confirm
// (PUBLISH_CONFIRMS), from the config, with a client's or an RpcProxy's own options over
// it. README "Delivery guarantees" says what each setting can lose, and when.

import type { DeliveryMode } from '../config-schema.js';
import { EnokiError } from '../errors.js';
import { SERIALIZER_NAMES, serializerNamed, type Serializer, type SerializerName } from '../serializer.js';

/** Per-client overrides of SERIALIZER, DELIVERY_MODE and PUBLISH_CONFIRMS (ClientOptions, RpcProxyOptions). */
export interface RpcPublishOptions {
  /** Body format of this client's requests (default: SERIALIZER). Replies come back in it. */
  serializer?: SerializerName;
  /** Delivery mode of this client's requests (default: DELIVERY_MODE). */
  deliveryMode?: DeliveryMode;
  /** Wait for the broker's confirm of each request (default: PUBLISH_CONFIRMS). */
  publishConfirms?: boolean;
}

/** The three settings, resolved. */
export interface PublishSettings {
  readonly serializer: Serializer;
  /** AMQP delivery_mode: 2 persistent, 1 transient. */
  readonly deliveryMode: 1 | 2;
  readonly confirm: boolean;
}

/** The config keys read here. */
export interface PublishConfig {
  SERIALIZER: SerializerName;
  DELIVERY_MODE: DeliveryMode;
  PUBLISH_CONFIRMS: boolean;
}

/**
 * The settings for `config` with `overrides` over it; `where` names the overrides in the
 * ENOKI_ERR_CONFIG_INVALID thrown for a value that is not one (JavaScript callers have no
 * type checker to stop them).
 */
export function publishSettings(config: PublishConfig, overrides: RpcPublishOptions = {}, where = 'client options'): PublishSettings {
  const { serializer = config.SERIALIZER, deliveryMode = config.DELIVERY_MODE, publishConfirms = config.PUBLISH_CONFIRMS } = overrides;
  const invalid = (key: string, expected: string, found: unknown): EnokiError =>
    new EnokiError('ENOKI_ERR_CONFIG_INVALID', [key, where, `expected ${expected}, found ${JSON.stringify(found)}`]);
  if (!SERIALIZER_NAMES.includes(serializer)) throw invalid('serializer', '"json" or "msgpack"', serializer);
  if (deliveryMode !== 'persistent' && deliveryMode !== 'transient') throw invalid('deliveryMode', '"persistent" or "transient"', deliveryMode);
  if (typeof publishConfirms !== 'boolean') throw invalid('publishConfirms', 'true or false', publishConfirms);
  return { serializer: serializerNamed(serializer), deliveryMode: deliveryMode === 'transient' ? 1 : 2, confirm: publishConfirms };
}
