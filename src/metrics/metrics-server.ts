// The metrics server: a small node:http server of its own on METRICS_ADDRESS, never the
// web server of WEB_SERVER_ADDRESS, so metrics and health are not exposed with a service's
// routes by accident. Three read-only routes:
//
//   GET /metrics        Prometheus text format (enoki's registry)
//   GET /health/live    200 while the process's event loop answers at all
//   GET /health/ready   200 when every service runs with its broker connection up,
//                       503 with a JSON reason while starting, reconnecting or stopping

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { EnokiError } from '../errors.js';
import type { RunnerMetrics } from './runner-metrics.js';

/** Where the metrics server listens, once it does. */
export interface MetricsServerAddress {
  /** The bound address, as the system reports it. */
  host: string;
  /** The bound port: the system's choice when METRICS_ADDRESS asked for port 0. */
  port: number;
  /** For connecting from this machine: a wildcard host is given as loopback. */
  url: string;
}

/** A listening metrics server. */
export interface MetricsServer {
  readonly address: MetricsServerAddress;
  /** Stop listening; open connections are cut (scrapes are short, nothing is lost). */
  close(): Promise<void>;
}

/** Listen on `address` ("host:port", as the config schema normalised it) and serve `source`. */
export async function startMetricsServer(address: string, source: RunnerMetrics, logger: Logger): Promise<MetricsServer> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    handle(req, res, source).catch((err: unknown) => {
      logger.error({ err }, 'metrics server: could not answer');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('metrics could not be collected\n');
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new EnokiError('ENOKI_ERR_METRICS_LISTEN', [address, (err as Error).message], { cause: err });
  }
  server.on('error', (err) => logger.error({ err }, 'metrics server error'));
  const info = server.address() as AddressInfo;
  const local = info.address === '0.0.0.0' ? '127.0.0.1' : info.address === '::' ? '::1' : info.address;
  const bound: MetricsServerAddress = { host: info.address, port: info.port, url: `http://${local.includes(':') ? `[${local}]` : local}:${info.port}` };
  logger.info({ metrics: `${bound.url}/metrics` }, `metrics and health on ${bound.url} (/metrics, /health/live, /health/ready)`);
  return { address: bound, close: () => closeServer(server) };
}

async function handle(req: IncomingMessage, res: ServerResponse, source: RunnerMetrics): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('only GET and HEAD\n');
    return;
  }
  switch (path) {
    case '/metrics': {
      const { registry } = source.metrics;
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    case '/health/live':
      json(res, 200, { status: 'live' });
      return;
    case '/health/ready': {
      const { ready, body } = source.readiness();
      json(res, ready ? 200 : 503, body);
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: /metrics, /health/live, /health/ready\n');
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
