// The web server's limits from config (`HTTP` section): a client that sends its headers one
// byte at a time is cut within about headers_timeout (not Node's 60 s, checked every 30 s),
// while a normal client is served meanwhile; one that trickles its body is cut within about
// request_timeout; a body over max_body_size gets 413, headers over max_header_size 431; an
// idle keep-alive connection closes after keep_alive_timeout; past max_connections a new
// connection is closed at once.

import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, loadConfig, ServiceRunner, webServerAddress, type HttpRequest } from '../src/index.js';
import { httpLimits } from '../src/http/http-limits.js';

class Limited {
  static name = 'http_limited';

  @http('GET', '/hi')
  hi() {
    return 'hi';
  }

  @http('POST', '/echo')
  echo(request: HttpRequest<unknown>) {
    return { got: typeof request.body };
  }
}

const config = loadConfig({
  AMQP_URI: 'memory://http-limits',
  WEB_SERVER_ADDRESS: '127.0.0.1:0',
  LOGGING: { level: 'silent' },
  HTTP: { headers_timeout: 1, request_timeout: 2, keep_alive_timeout: 1, max_body_size: 1024, max_header_size: 2048, max_connections: 20 },
});
let runner: ServiceRunner;
let port: number;

beforeAll(async () => {
  runner = new ServiceRunner(config);
  runner.add(Limited);
  await runner.start();
  port = webServerAddress(config)!.port;
});

afterAll(async () => runner?.stop());

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with the ms from now until the server closes the socket, and what it sent. */
function closedAfter(socket: Socket): Promise<{ ms: number; data: string }> {
  const started = performance.now();
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  return new Promise((resolve) => socket.once('close', () => resolve({ ms: performance.now() - started, data })));
}

describe('HTTP limits', () => {
  it('cuts a client that trickles its headers within about headers_timeout, and serves others meanwhile', async () => {
    const slow = await open();
    const closed = closedAfter(slow);
    slow.write('GET /hi HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const trickle = setInterval(() => {
      if (!slow.destroyed) slow.write('a');
    }, 200);
    try {
      // A normal client, while the slow one holds its socket.
      const res = await fetch(`http://127.0.0.1:${port}/hi`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('hi');
      const { ms, data } = await closed;
      expect(ms).toBeGreaterThanOrEqual(800);
      expect(ms).toBeLessThan(4_000);
      expect(data).toMatch(/^HTTP\/1.1 408/);
    } finally {
      clearInterval(trickle);
      slow.destroy();
    }
  });

  it('answers 413 for a body over max_body_size and serves one under it', async () => {
    const big = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x: 'a'.repeat(2000) }) });
    expect(big.status).toBe(413);
    const small = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x": 1}' });
    expect(small.status).toBe(200);
  });

  it('closes connections past max_connections at once', async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => open()));
    try {
      // The kernel completes the handshake; the server then drops the socket unanswered.
      const extra = await open();
      const { ms, data } = await closedAfter(extra);
      expect(ms).toBeLessThan(1_000);
      expect(data).toBe('');
    } finally {
      for (const s of held) s.destroy();
    }
    // Once the server has seen them go, connections are served again.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${port}/hi`).then((r) => r.status, () => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });

  it('cuts a client that trickles its body within about request_timeout', async () => {
    const slow = await open();
    const closed = closedAfter(slow);
    slow.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{');
    const trickle = setInterval(() => {
      if (!slow.destroyed) slow.write(' ');
    }, 200);
    try {
      const { ms } = await closed;
      // request_timeout is 2 s, counted from the first byte; checked every 100 ms.
      expect(ms).toBeGreaterThanOrEqual(1_500);
      expect(ms).toBeLessThan(5_000);
    } finally {
      clearInterval(trickle);
      slow.destroy();
    }
  });

  it('answers 431 for headers over max_header_size', async () => {
    const socket = await open();
    const closed = closedAfter(socket);
    socket.write(`GET /hi HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(3_000)}\r\n\r\n`);
    const { data } = await closed;
    expect(data).toMatch(/^HTTP\/1.1 431/);
    const ok = await fetch(`http://127.0.0.1:${port}/hi`, { headers: { 'x-small': 'a'.repeat(500) } });
    expect(ok.status).toBe(200);
  });

  it('closes an idle keep-alive connection after about keep_alive_timeout', async () => {
    const socket = await open();
    const closed = closedAfter(socket);
    socket.write('GET /hi HTTP/1.1\r\nHost: x\r\n\r\n');
    const { ms, data } = await closed;
    expect(data).toMatch(/^HTTP\/1.1 200/);
    expect(data).toMatch(/keep-alive/i);
    // keep_alive_timeout is 1 s (Node adds a second of grace for its own keep-alive header).
    expect(ms).toBeGreaterThanOrEqual(800);
    expect(ms).toBeLessThan(4_000);
  });

  it('resolves the section with defaults, request_timeout never below headers_timeout, and a check interval that follows them', () => {
    expect(httpLimits(undefined, 4_194_304)).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxBodySize: 4_194_304,
      maxHeaderSize: 16_384,
      maxConnections: 0,
      checkIntervalMs: 1_000,
    });
    const tight = httpLimits({ headers_timeout: 20, request_timeout: 5 }, 1);
    expect(tight.requestTimeoutMs).toBe(20_000);
    expect(httpLimits({ headers_timeout: 0.5 }, 1).checkIntervalMs).toBe(100);
  });
});
