// The shared RPC client for a plain node:http server.
//
//     const server = createServer(async (req, res) => {
//       const client = await rpc.forRequest(req);
//       res.end(await client.greeting_service.hello('world'));
//     });
//     const rpc = nodeHttpRpc(server, { config: 'config.yaml', contextHeaders: { 'x-request-id': 'request_id' } });
//
// The client connects on first use (or `await rpc.connect()` at startup) and closes when
// the server closes.

import type { IncomingMessage } from 'node:http';
import { SharedRpcClient, type WebRpcOptions } from './shared-client.js';

/**
 * Options of {@link nodeHttpRpc}: {@link WebRpcOptions} whose `context` receives the
 * node:http `IncomingMessage`.
 */
export type NodeHttpRpcOptions = WebRpcOptions<IncomingMessage>;

/** One RPC client for `server`'s requests, closed when `server` closes. */
export function nodeHttpRpc(
  server: { once(event: 'close', listener: () => void): unknown },
  options: NodeHttpRpcOptions = {},
): SharedRpcClient<IncomingMessage> {
  return new SharedRpcClient<IncomingMessage>(options).closeWith(server);
}
