// fastify plugin: one RPC client for the app, a per-request view on `request.rpc`.
//
//     import { fastifyRpc } from 'enoki/fastify';
//     await app.register(fastifyRpc, { config: 'config.yaml', contextHeaders: { 'x-request-id': 'request_id' } });
//     app.get('/hello/:name', (req) => req.rpc.greeting_service.hello(req.params.name));
//
// The client connects while the plugin registers (so `app.ready()` fails when the broker
// cannot be reached, rather than the first request) and closes in the onClose hook.
// Only fastify's types are imported: fastify stays the application's dependency.

import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ClusterClient } from '../rpc/cluster-rpc-proxy.js';
import { SharedRpcClient, type WebRpcOptions } from './shared-client.js';

/**
 * Options of {@link fastifyRpc}: the client's config and connect options, and where each
 * request's context data comes from (`contextHeaders`, or `context`, which receives the
 * fastify request). See {@link WebRpcOptions}.
 */
export type FastifyRpcOptions = WebRpcOptions<FastifyRequest>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's shared RPC client (a view: closing it does nothing). */
    rpc: ClusterClient;
  }
  interface FastifyRequest {
    /** The shared RPC client with this request's context data. */
    rpc: ClusterClient;
  }
}

const plugin: FastifyPluginAsync<FastifyRpcOptions> = async (app: FastifyInstance, options: FastifyRpcOptions) => {
  const shared = new SharedRpcClient<FastifyRequest>(options);
  const client = await shared.connect();
  app.addHook('onClose', async () => {
    await shared.close();
  });
  const root: ClusterClient = client.withContext({});
  app.decorate('rpc', root);
  // Made on first use and kept for the request, so routes that never call out pay nothing.
  const views = new WeakMap<FastifyRequest, ClusterClient>();
  app.decorateRequest('rpc', {
    getter(this: FastifyRequest): ClusterClient {
      let view = views.get(this);
      if (!view) {
        view = shared.view(client, this);
        views.set(this, view);
      }
      return view;
    },
  });
};

// What the fastify-plugin package does: decorations apply to the app that registers the
// plugin, not to an encapsulated child context.
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'enoki-rpc',
  [Symbol.for('plugin-meta')]: { name: 'enoki-rpc', fastify: '5.x' },
});

/**
 * The fastify plugin: `await app.register(fastifyRpc, options)`. It connects one shared
 * RPC client while it registers, so `app.ready()` fails when the broker cannot be
 * reached rather than the first request; it puts the client on `app.rpc`, and on every
 * request `request.rpc`, a view of the same client carrying that request's context data
 * (made on first use, so a route that never calls out pays nothing). The client closes in
 * fastify's `onClose` hook.
 *
 * As with the fastify-plugin package, the decorations apply to the app that registers the
 * plugin, not to an encapsulated child context.
 */
export const fastifyRpc: FastifyPluginAsync<FastifyRpcOptions> = plugin;
