// The pooled RPC client for web servers (flask_nameko's lesson), with real fastify,
// real express and plain node:http against a real broker: one connection per server
// shared by every request, per-request context data in nameko.* headers, closed with
// the server.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ClusterRpcProxy,
  DependencyProvider,
  ServiceRunner,
  SharedRpcClient,
  isEnokiError,
  loadConfig,
  nodeHttpRpc,
  rpc,
  type ClusterClient,
  type EnokiConfig,
  type WorkerContext,
} from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { expressRpc } from '../src/web/express-middleware.js';
import { fastifyRpc } from '../src/web/fastify-plugin.js';
import { createVhost, type TestVhost } from './support/vhost.js';

class ContextData extends DependencyProvider<Record<string, unknown>> {
  getDependency(ctx: WorkerContext): Record<string, unknown> {
    return ctx.contextData;
  }
}

class Greeting {
  static name = 'web_clients_greeting';
  context = new ContextData();

  @rpc
  hello(name: string) {
    return `Hello, ${name}!`;
  }

  @rpc
  whoami() {
    const { request_id, user_id } = this.context as unknown as Record<string, unknown>;
    return { request_id: request_id ?? null, user_id: user_id ?? null };
  }

  @rpc
  fail() {
    throw new TypeError('service failed');
  }
}

let vhost: TestVhost;
let runner: ServiceRunner;
let config: EnokiConfig;

beforeAll(async () => {
  vhost = createVhost('web-clients');
  config = loadConfig({ AMQP_URI: vhost.uri, rpc_exchange: 'web-clients-test', LOGGING: { level: 'silent' } });
  runner = new ServiceRunner(config, { logger: silentLogger() });
  runner.add(Greeting);
  await runner.start();
});

afterAll(async () => {
  await runner?.stop();
  vhost?.remove();
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Every client ClusterRpcProxy.connect makes from now on. */
function spyConnect(): { count: () => number; clients: () => Promise<ClusterClient[]>; settled: () => Promise<Array<PromiseSettledResult<ClusterClient>>> } {
  const spy = vi.spyOn(ClusterRpcProxy, 'connect');
  return {
    count: () => spy.mock.calls.length,
    clients: () => Promise.all(spy.mock.results.map((r) => r.value as Promise<ClusterClient>)),
    settled: () => Promise.allSettled(spy.mock.results.map((r) => r.value as Promise<ClusterClient>)),
  };
}

const clientOptions = () => ({ logger: silentLogger() });

describe('fastify plugin', () => {
  async function app(options: Parameters<typeof fastifyRpc>[1] = {}) {
    const made = Fastify();
    await made.register(fastifyRpc, { config, client: clientOptions(), ...options });
    made.get<{ Params: { name: string } }>('/hello/:name', (req) => req.rpc.web_clients_greeting!.hello(req.params.name));
    made.get('/whoami', (req) => req.rpc.web_clients_greeting!.whoami());
    made.get('/close-view', async (req) => {
      await req.rpc.close();
      return req.rpc.web_clients_greeting!.hello('still open');
    });
    made.get('/fail', (req) => req.rpc.web_clients_greeting!.fail());
    return made;
  }

  it('shares one client among all requests, on app.rpc and request.rpc', async () => {
    const connects = spyConnect();
    const fastify = await app();
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => fastify.inject({ url: `/hello/n${i}` })));
    expect(replies.map((r) => r.body)).toEqual(Array.from({ length: 20 }, (_, i) => `Hello, n${i}!`));
    expect(await fastify.rpc.web_clients_greeting!.hello('app')).toBe('Hello, app!');
    expect(connects.count()).toBe(1);
    await fastify.close();
  });

  it('sends request headers and computed values as context data', async () => {
    const fastify = await app({
      contextHeaders: { 'X-Request-Id': 'request_id' },
      context: (req) => (req.headers.authorization === 'Bearer alice' ? { user_id: 'alice' } : undefined),
    });
    const res = await fastify.inject({ url: '/whoami', headers: { 'x-request-id': 'req-1', authorization: 'Bearer alice' } });
    expect(res.json()).toEqual({ request_id: 'req-1', user_id: 'alice' });
    // Nothing leaks from one request to the next.
    expect((await fastify.inject({ url: '/whoami' })).json()).toEqual({ request_id: null, user_id: null });
    await fastify.close();
  });

  it('a handler closing request.rpc does not close the shared client', async () => {
    const fastify = await app();
    expect((await fastify.inject({ url: '/close-view' })).body).toBe('Hello, still open!');
    expect((await fastify.inject({ url: '/hello/again' })).body).toBe('Hello, again!');
    await fastify.close();
  });

  it('a remote error reaches fastify error handling', async () => {
    const fastify = await app();
    const res = await fastify.inject({ url: '/fail' });
    expect(res.statusCode).toBe(500);
    expect(res.json().message).toContain('service failed');
    await fastify.close();
  });

  it('closes the client when the app closes', async () => {
    const connects = spyConnect();
    const fastify = await app();
    const [client] = await connects.clients();
    expect(client!.closed).toBe(false);
    await fastify.close();
    expect(client!.closed).toBe(true);
  });

  it('fails app.ready() when the broker cannot be reached', async () => {
    const fastify = Fastify();
    const bad = loadConfig({ AMQP_URI: 'amqp://guest:guest@127.0.0.1:1/', STARTUP_TIMEOUT: 0.5, LOGGING: { level: 'silent' } });
    fastify.register(fastifyRpc, { config: bad, client: clientOptions() });
    const err = await fastify.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isEnokiError(err, 'ENOKI_ERR_BROKER_REFUSED')).toBe(true);
    await fastify.close();
  });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): Promise<void> {
  server.closeIdleConnections();
  return new Promise((r) => server.close(() => r()));
}

describe('express middleware', () => {
  function app(options: Parameters<typeof expressRpc>[0] = {}) {
    const rpcMiddleware = expressRpc({ config, client: clientOptions(), ...options });
    const made = express();
    made.use(rpcMiddleware);
    made.get('/hello/:name', async (req: Request, res: Response) => {
      res.send(await req.rpc.web_clients_greeting!.hello(req.params.name));
    });
    made.get('/whoami', async (req: Request, res: Response) => {
      res.json(await req.rpc.web_clients_greeting!.whoami());
    });
    made.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
      res.status(502).send(`rpc failed: ${err.name}`);
    });
    return { app: made, rpcMiddleware };
  }

  it('connects on the first request and shares one client after', async () => {
    const connects = spyConnect();
    const { app: made } = app();
    const server = createServer(made);
    const base = await listen(server);
    expect(connects.count()).toBe(0);
    const bodies = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${base}/hello/e${i}`).then((r) => r.text())));
    expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => `Hello, e${i}!`));
    expect(connects.count()).toBe(1);
    await closeServer(server);
  });

  it('sends mapped headers as context data', async () => {
    const { app: made } = app({ contextHeaders: { 'x-request-id': 'request_id', 'x-user-id': 'user_id' } });
    const server = createServer(made);
    const base = await listen(server);
    const res = await fetch(`${base}/whoami`, { headers: { 'x-request-id': 'r-42', 'x-user-id': 'bob' } });
    expect(await res.json()).toEqual({ request_id: 'r-42', user_id: 'bob' });
    await closeServer(server);
  });

  it('closes the client when the server it served closes', async () => {
    const connects = spyConnect();
    const { app: made, rpcMiddleware } = app();
    const server = createServer(made);
    const base = await listen(server);
    await fetch(`${base}/hello/x`).then((r) => r.text());
    const [client] = await connects.clients();
    expect(client!.closed).toBe(false);
    await closeServer(server);
    await vi.waitFor(() => expect(client!.closed).toBe(true));
    expect(rpcMiddleware.shared.closed).toBe(true);
  });

  it('closeWith() ties the client to a server before any request', async () => {
    const { app: made, rpcMiddleware } = app();
    const server = made.listen(0, '127.0.0.1');
    rpcMiddleware.closeWith(server);
    await new Promise((r) => server.once('listening', r));
    await rpcMiddleware.connect();
    await closeServer(server);
    await vi.waitFor(() => expect(rpcMiddleware.shared.closed).toBe(true));
  });

  it('passes a connection failure to the error handler, and retries on the next request', async () => {
    const bad = loadConfig({ AMQP_URI: 'amqp://guest:guest@127.0.0.1:1/', STARTUP_TIMEOUT: 0.5, LOGGING: { level: 'silent' } });
    const connects = spyConnect();
    const { app: made } = app({ config: bad });
    const server = createServer(made);
    const base = await listen(server);
    const first = await fetch(`${base}/hello/x`);
    expect(first.status).toBe(502);
    expect(await first.text()).toBe('rpc failed: EnokiError');
    await fetch(`${base}/hello/x`).then((r) => r.text());
    expect(connects.count()).toBe(2);
    await closeServer(server);
  });
});

describe('node:http', () => {
  it('gives each request a view of one client, closed with the server', async () => {
    const connects = spyConnect();
    const server = createServer(async (req: IncomingMessage, res) => {
      const client = await rpc.forRequest(req);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(await client.web_clients_greeting!.whoami()));
    });
    const rpc = nodeHttpRpc(server, { config, client: clientOptions(), contextHeaders: { 'x-request-id': 'request_id' } });
    const base = await listen(server);
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fetch(base, { headers: { 'x-request-id': `id-${i}` } }).then((r) => r.json())),
    );
    expect(replies).toEqual(Array.from({ length: 10 }, (_, i) => ({ request_id: `id-${i}`, user_id: null })));
    expect(connects.count()).toBe(1);
    const [client] = await connects.clients();
    await closeServer(server);
    await vi.waitFor(() => expect(client!.closed).toBe(true));
  });
});

describe('SharedRpcClient', () => {
  it('shares one connection attempt between concurrent callers', async () => {
    const connects = spyConnect();
    const shared = new SharedRpcClient({ config, client: clientOptions() });
    const [a, b] = await Promise.all([shared.connect(), shared.connect()]);
    expect(a).toBe(b);
    expect(connects.count()).toBe(1);
    await shared.close();
    expect(a.closed).toBe(true);
  });

  it('refuses requests once closed, and closes a client still connecting', async () => {
    const connects = spyConnect();
    const shared = new SharedRpcClient({ config, client: clientOptions() });
    const connecting = shared.connect();
    await shared.close();
    expect(isEnokiError(await connecting.catch((e: unknown) => e), 'ENOKI_ERR_CLIENT_CLOSED')).toBe(true);
    // The attempt was aborted (close() ends a wait for the broker), or made its client and
    // closed it at once: either way no client is left open.
    const [outcome] = await connects.settled();
    expect(outcome!.status === 'rejected' ? isEnokiError(outcome!.reason, 'ENOKI_ERR_CLIENT_CLOSED') : outcome!.value.closed).toBe(true);
    expect(isEnokiError(await shared.forRequest({ headers: {} }).catch((e: unknown) => e), 'ENOKI_ERR_CLIENT_CLOSED')).toBe(true);
  });

  it('maps the first value of a repeated header', () => {
    const shared = new SharedRpcClient({ contextHeaders: { 'X-Forwarded-For': 'client_ip' } });
    expect(shared.contextFor({ headers: { 'x-forwarded-for': ['1.2.3.4', '5.6.7.8'] as unknown as string } })).toEqual({ client_ip: '1.2.3.4' });
  });
});
