// The RPC behaviour suite on memory://: each test gets its own in-process vhost.
import { rpcBehaviour } from './behaviour/rpc-behaviour.js';

rpcBehaviour({ name: 'memory://', config: {} });
