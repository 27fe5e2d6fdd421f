// Requests/s and latency of an @http route beside a bare node:http server that returns
// the same bytes (and fastify, for reference), in the same run.
//
//   npx tsx bench/http.ts [--duration 5] [--connections 64] [--rounds 5]
//
// Each server runs alone in its own child process while autocannon drives it from this
// process: on a 2-core machine, one core serves and one loads (each pinned to its core
// with taskset when there is one), and no two servers compete.
// Servers take turns (in a rotating order), `rounds` times each, and the best round
// counts: what the server can do, not what a noisy neighbour let it do. The server's own
// CPU time per request is printed too; on a shared machine it moves much less than req/s.
//
// The enoki route goes the whole worker path: route match, HttpRequest, WorkerContext,
// fresh service instance, hooks, max_workers semaphore, handleResult, response.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { pinToCpu, startRole, stopRole } from './roles.js';
import { autocannon } from './autocannon.js';


const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '5' },
  },
});

const PATH = '/hello/world';
const EXPECTED = 'Hello, world!';

// --- servers (child processes) ---------------------------------------------------------

async function serveEnoki(): Promise<number> {
  const { ServiceRunner, http, loadConfig, webServerAddress } = await import('../src/index.js');
  type HttpRequest = import('../src/index.js').HttpRequest;
  class GreetingService {
    static name = 'greeting_service';
    @http('GET', '/hello/:name')
    hello_http(req: HttpRequest) {
      return `Hello, ${req.params.name}!`;
    }
  }
  const config = loadConfig({ AMQP_URI: 'memory://', WEB_SERVER_ADDRESS: '127.0.0.1:0', max_workers: 64, LOGGING: { level: 'warn' } });
  const runner = new ServiceRunner(config);
  runner.add(GreetingService);
  await runner.start();
  process.once('disconnect', () => void runner.stop().then(() => process.exit(0)));
  return webServerAddress(config)!.port;
}

async function serveBare(): Promise<number> {
  // The least a server can do for the same response: match the prefix, decode the
  // parameter, send the same headers and bytes.
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (req.method === 'GET' && url.startsWith('/hello/')) {
      const body = `Hello, ${decodeURIComponent(url.slice(7))}!`;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-length': 0 });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.once('disconnect', () => server.close(() => process.exit(0)));
  return (server.address() as AddressInfo).port;
}

async function serveFastify(): Promise<number> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  app.get<{ Params: { name: string } }>('/hello/:name', async (req, reply) => {
    reply.type('text/plain; charset=utf-8');
    return `Hello, ${req.params.name}!`;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.once('disconnect', () => void app.close().then(() => process.exit(0)));
  return (app.server.address() as AddressInfo).port;
}

const SERVERS: Record<string, () => Promise<number>> = { enoki: serveEnoki, bare: serveBare, fastify: serveFastify };

// --- load generator (this process) -----------------------------------------------------

interface Measure {
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU time (user + system) per request, in microseconds. */
  cpuPerReq: number;
  errors: number;
}

async function load(child: ChildProcess, port: number, duration: number, connections: number): Promise<Measure> {
  const cpu = new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { cpuUs: number }).cpuUs)));
  child.send('begin');
  const result = await autocannon({ url: `http://127.0.0.1:${port}${PATH}`, connections, duration, pipelining: 1 });
  child.send('end');
  const cpuUs = await cpu;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuPerReq: cpuUs / result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function main(): Promise<void> {
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  const best: Record<string, Measure> = {};
  const cores = availableParallelism();
  // Children inherit this mask; each server is moved to CPU 1 once started.
  const pinned = pinToCpu(process.pid, 0);
  for (let round = 0; round < rounds; round++) {
    const roles = ['bare', 'enoki', 'fastify'];
    for (const role of [...roles.slice(round % 3), ...roles.slice(0, round % 3)]) {
      const { child, port } = await startRole(fileURLToPath(import.meta.url), role);
      if (pinned) pinToCpu(child.pid!, 1);
      const check = await fetch(`http://127.0.0.1:${port}${PATH}`);
      const text = await check.text();
      if (text !== EXPECTED) throw new Error(`${role} answered ${JSON.stringify(text)}`);
      await load(child, port, 1, connections); // warm-up: JIT, connection setup
      const m = await load(child, port, duration, connections);
      const prev = best[role];
      // Best req/s (with its latencies), and the least CPU per request seen in any round.
      if (!prev || m.rps > prev.rps) best[role] = { ...m, cpuPerReq: Math.min(m.cpuPerReq, prev?.cpuPerReq ?? Infinity) };
      else prev.cpuPerReq = Math.min(prev.cpuPerReq, m.cpuPerReq);
      process.stderr.write(`round ${round + 1} ${role}: ${m.rps.toFixed(0)} req/s, p99 ${m.p99} ms, ${m.cpuPerReq.toFixed(1)} µs CPU/req\n`);
      await stopRole(child);
    }
  }
  const bare = best.bare!.rps;
  console.log(`\nGET ${PATH}, ${connections} connections, ${duration} s, best of ${rounds}; node ${process.version}, ${cores} cores (${cpus()[0]?.model.trim()})${pinned ? "; load on CPU 0, server on CPU 1" : ""}`);
  console.table(
    Object.entries(best).map(([server, m]) => ({
      server: server === 'enoki' ? 'enoki @http' : server === 'bare' ? 'bare node:http' : 'fastify 5',
      'req/s': Math.round(m.rps),
      'p50 ms': m.p50,
      'p99 ms': m.p99,
      'vs bare': `${(m.rps / bare).toFixed(2)}x`,
      'CPU µs/req': Number(m.cpuPerReq.toFixed(1)),
      'CPU vs bare': `${(best.bare!.cpuPerReq / m.cpuPerReq).toFixed(2)}x`,
      errors: m.errors,
    })),
  );
}

if (values.role) {
  const port = await SERVERS[values.role]!();
  // CPU time is measured in the server itself: on a shared machine req/s moves with
  // whatever else runs, CPU per request much less.
  let mark = process.cpuUsage();
  process.on('message', (m: string) => {
    if (m === 'begin') mark = process.cpuUsage();
    if (m === 'end') {
      const used = process.cpuUsage(mark);
      process.send!({ cpuUs: used.user + used.system });
    }
  });
  process.send!({ port });
} else {
  await main();
}
