// Pitfall (b): a client per call, or per web request. In nameko, `with ClusterRpcProxy()`
// inside a function, or inside a Flask view, opens a connection and declares a reply
// queue every time: a TCP and AMQP handshake and a queue declaration, far more work than
// the call itself, and a trail of connections and queues on the broker.
//
// enoki's answer: one client per process, shared by every caller. `ClusterRpcProxy` takes
// many calls in flight on one connection and one reply queue; for web servers,
// `nodeHttpRpc` (and the fastify plugin, the express middleware) hold that one client and
// give each request a view of it.
//
//   npx tsx scripts/pitfalls/client-cost.ts [--calls 300]
//
// The service runs under `enoki run` (a child process, real RabbitMQ at AMQP_URI); the
// clients and a node:http gateway run here. Exits 1 if the shared client is not at least
// 3 times cheaper per call (median) than a client per call, over RPC and over HTTP.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { ClusterRpcProxy, nodeHttpRpc, rpc } from '../../src/index.js';
import { clientConfig, deleteQueues, isEntry, ms, percentile, ServiceProcess, serviceName, table, verdict } from './support.js';

export class Greeter {
  static name = serviceName('pitfall_clients');

  @rpc
  hello(name: string) {
    return `Hello, ${name}!`;
  }
}

interface Result {
  label: string;
  calls: number;
  clients: number;
  seconds: number;
  latencies: number[];
}

/** `calls` calls, `concurrency` at a time; each latency is one call as its caller saw it. */
async function measure(label: string, calls: number, concurrency: number, one: (i: number) => Promise<void>): Promise<Omit<Result, 'clients'>> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        const i = next++;
        const t = performance.now();
        await one(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { label, calls, seconds: (performance.now() - started) / 1000, latencies };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function get(url: string): Promise<void> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200 || !text.startsWith('Hello')) throw new Error(`GET ${url}: ${res.status} ${text}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '300' } } });
  const shared = Number(values.calls);
  // A client per call costs a connection each: fewer of them say the same thing.
  const perCall = Math.max(10, Math.round(shared / 10));
  const name = Greeter.name;
  const config = clientConfig();
  const service = await ServiceProcess.start(['scripts/pitfalls/client-cost.ts:Greeter']);
  const results: Result[] = [];
  try {
    // Before: connect, call, close, for every call (nameko: `with ClusterRpcProxy() as rpc:` in a function).
    let opened = 0;
    const fresh = async (): Promise<string> => {
      opened++;
      await using client = await ClusterRpcProxy.connect(config, { timeoutMs: 20_000 });
      return (await client.service(name).hello('per-call')) as string;
    };
    results.push({ ...(await measure('RPC: a client per call', perCall, 1, async () => void (await fresh()))), clients: opened });

    // After: one client for the process.
    {
      await using client = await ClusterRpcProxy.connect(config, { timeoutMs: 20_000 });
      const greeter = client.service(name);
      await greeter.hello('warm-up');
      results.push({ ...(await measure('RPC: one shared client', shared, 1, async () => void (await greeter.hello('shared')))), clients: 1 });
    }

    // A web gateway, before: a client per request (nameko: ClusterRpcProxy in a Flask view).
    opened = 0;
    const perRequest = createServer((_req: IncomingMessage, res: ServerResponse) => {
      fresh().then(
        (text) => res.end(text),
        (err: Error) => res.writeHead(502).end(err.message),
      );
    });
    const base1 = await listen(perRequest);
    results.push({ ...(await measure('HTTP: a client per request', perCall, 4, () => get(`${base1}/hello`))), clients: opened });
    await closeServer(perRequest);

    // After: nodeHttpRpc, one client for the server, a per-request view of it.
    const gateway = createServer((req: IncomingMessage, res: ServerResponse) => {
      webRpc
        .forRequest(req)
        .then((client) => client.service(name).hello('web') as Promise<string>)
        .then(
          (text) => res.end(text),
          (err: Error) => res.writeHead(502).end(err.message),
        );
    });
    const webRpc = nodeHttpRpc(gateway, { config, client: { timeoutMs: 20_000 } });
    await webRpc.connect();
    const base2 = await listen(gateway);
    await get(`${base2}/hello`);
    results.push({ ...(await measure('HTTP: nodeHttpRpc, one client', shared, 4, () => get(`${base2}/hello`))), clients: 1 });
    await closeServer(gateway);
  } finally {
    const code = await service.stop();
    if (code !== 0) console.log(`enoki run exited ${code} on SIGTERM`);
    await deleteQueues([name]);
  }

  console.log(`\nThe same hello call, ${shared} times through a shared client, ${perCall} times through a client each:\n`);
  console.log(
    table(
      ['how', 'calls', 'connections + reply queues', 'calls/s', 'p50', 'p99'],
      results.map((r) => [r.label, String(r.calls), String(r.clients), (r.calls / r.seconds).toFixed(0), ms(percentile(r.latencies, 50), 2), ms(percentile(r.latencies, 99), 2)]),
    ),
  );
  const failures: string[] = [];
  console.log();
  for (const [before, after] of [
    [results[0]!, results[1]!],
    [results[2]!, results[3]!],
  ] as const) {
    const ratio = percentile(before.latencies, 50) / percentile(after.latencies, 50);
    console.log(`${after.label}: ${ratio.toFixed(1)}x cheaper per call (median) than ${before.label.replace(/^\w+: /, '')}`);
    if (!(ratio >= 3)) failures.push(`${after.label} is only ${ratio.toFixed(1)}x cheaper than ${before.label} (want >= 3x)`);
  }
  verdict(failures, 'one client per process: no handshake or queue declaration per call.');
}

if (isEntry(import.meta.url)) await main();
