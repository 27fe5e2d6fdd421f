// The RPC behaviour suite on a real RabbitMQ (ENOKI_TEST_BROKER, default 127.0.0.1:5672).
// Its own exchange and per-test service names let it share the broker with other files;
// the durable service queues it declared are deleted afterwards.
import { randomBytes } from 'node:crypto';
import { rpcBehaviour } from './behaviour/rpc-behaviour.js';
import { deleteBrokerObjects } from './helpers/amqp-cleanup.js';

const uri = process.env.ENOKI_TEST_BROKER ?? 'amqp://guest:guest@127.0.0.1:5672/';
const exchange = `behaviour-rpc-${randomBytes(4).toString('hex')}`;

rpcBehaviour({
  name: 'RabbitMQ',
  config: { AMQP_URI: uri, rpc_exchange: exchange },
  cleanup: (services) => deleteBrokerObjects(uri, services.map((name) => `rpc-${name}`), [exchange]),
});
