// A web route that calls greeting_service.hello over RPC on every request: with the
// pooled client (one connection per process, the fastify plugin), and with a client
// connected and closed per request (what flask_nameko was written to stop).
//
//   npx tsx bench/gateway.ts [--duration 5] [--connections 16] [--rounds 2] [--uri amqp://...]
//
// Three processes: the service, the gateway (fastify), and autocannon here. Without
// --uri, the run gets a fresh RabbitMQ vhost (rabbitmqctl) on 127.0.0.1 and removes it.

import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createVhost } from '../test/support/vhost.js';
import { startRole, stopRole } from './roles.js';
import { autocannon } from './autocannon.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    uri: { type: 'string' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});

const EXCHANGE = 'enoki-bench-gateway';


// --- the service and the gateway (child processes) -------------------------------------

async function config(uri: string) {
  const { loadConfig } = await import('../src/index.js');
  return loadConfig({ AMQP_URI: uri, rpc_exchange: EXCHANGE, LOGGING: { level: 'warn' } });
}

async function serveGreeting(uri: string): Promise<number> {
  const { ServiceRunner, rpc } = await import('../src/index.js');
  class GreetingService {
    static name = 'greeting_service';
    @rpc
    hello(name: string) {
      return `Hello, ${name}!`;
    }
  }
  const runner = new ServiceRunner(await config(uri));
  runner.add(GreetingService);
  await runner.start();
  process.once('disconnect', () => void runner.stop().then(() => process.exit(0)));
  return 0;
}

async function serveGateway(uri: string): Promise<number> {
  const { ClusterRpcProxy, createLogger } = await import('../src/index.js');
  const { fastifyRpc } = await import('../src/web/fastify-plugin.js');
  const { default: Fastify } = await import('fastify');
  const cfg = await config(uri);
  const logger = createLogger(cfg.LOGGING, 'gateway');
  const app = Fastify();
  await app.register(fastifyRpc, { config: cfg, client: { logger } });
  app.get<{ Params: { name: string } }>('/pooled/:name', (req) => req.rpc.greeting_service!.hello(req.params.name));
  app.get<{ Params: { name: string } }>('/per-request/:name', async (req) => {
    // The anti-pattern: a TCP + AMQP handshake and a reply-queue declaration per request.
    // (The logger is shared, so only the connection is measured.)
    const client = await ClusterRpcProxy.connect(cfg, { logger });
    try {
      return await client.greeting_service!.hello(req.params.name);
    } finally {
      await client.close();
    }
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.once('disconnect', () => void app.close().then(() => process.exit(0)));
  return (app.server.address() as AddressInfo).port;
}

// --- load generator (this process) -----------------------------------------------------

interface Row {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function main(): Promise<void> {
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  const own = values.uri ? null : createVhost('bench-gateway');
  const uri = values.uri ?? own!.uri;
  const service = await startRole(fileURLToPath(import.meta.url), 'greeting', ['--uri', uri]);
  const gateway = await startRole(fileURLToPath(import.meta.url), 'gateway', ['--uri', uri]);
  const best: Record<string, Row> = {};
  try {
    for (const route of ['pooled', 'per-request']) {
      const check = await fetch(`http://127.0.0.1:${gateway.port}/${route}/world`).then((r) => r.text());
      if (check !== 'Hello, world!') throw new Error(`/${route} answered ${JSON.stringify(check)}`);
    }
    for (let round = 0; round < rounds; round++) {
      for (const route of round % 2 === 0 ? ['pooled', 'per-request'] : ['per-request', 'pooled']) {
        const url = `http://127.0.0.1:${gateway.port}/${route}/world`;
        await autocannon({ url, connections, duration: 1, pipelining: 1 }); // warm-up
        const r = await autocannon({ url, connections, duration, pipelining: 1 });
        const row = { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
        process.stderr.write(`round ${round + 1} ${route}: ${row.rps.toFixed(0)} req/s, p99 ${row.p99} ms, ${row.errors} errors\n`);
        if (!best[route] || row.rps > best[route]!.rps) best[route] = row;
      }
    }
  } finally {
    await stopRole(gateway.child);
    await stopRole(service.child);
    own?.remove();
  }
  const perRequest = best['per-request']!.rps;
  console.log(
    `\nGET /<route>/world -> greeting_service.hello over RabbitMQ; ${connections} connections, ${duration} s, best of ${rounds}; ` +
      `node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model.trim()})`,
  );
  console.table(
    Object.entries(best).map(([route, m]) => ({
      client: route === 'pooled' ? 'pooled (one per process)' : 'connect + close per request',
      'req/s': Math.round(m.rps),
      'p50 ms': m.p50,
      'p99 ms': m.p99,
      'vs per-request': `${(m.rps / perRequest).toFixed(1)}x`,
      errors: m.errors,
    })),
  );
}

if (values.role) {
  const port = values.role === 'greeting' ? await serveGreeting(values.uri!) : await serveGateway(values.uri!);
  process.send!({ port });
} else {
  await main();
}
