// @http + @cpuBound through the real worker pool: the HttpRequest crosses to a pool
// thread (structured clone), the response and errors come back as inline ones do.
//
// Pool threads import the service's module by itself, so the service lives in a module
// of its own, written to a temporary directory (a test file cannot be that module: it
// imports vitest).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceRunner, loadConfig, webServerAddress } from '../src/index.js';
import type { ServiceClass } from '../src/service-definition.js';
import { silentLogger } from '../src/logger.js';

const SERVICE = `
import { http, cpuBound, HttpError, ExpectedError } from ${JSON.stringify(pathToFileURL(resolve('src/index.ts')).href)};
import { isMainThread } from 'node:worker_threads';

class Invalid extends ExpectedError {}

export class HttpOffloadService {
  static name = 'http_offload_service';

  @http('POST', '/sum/:tag')
  @cpuBound
  sum(req, tag) {
    let total = 0;
    for (const byte of req.body) total += byte;
    return [201, { 'x-tag': tag }, {
      total,
      bytes: req.body instanceof Uint8Array,
      inPool: !isMainThread,
      query: req.query,
      type: req.headers['content-type'],
    }];
  }

  @http('POST', '/json')
  @cpuBound
  json(req) {
    return { doubled: req.body.values.map((v) => v * 2), inPool: !isMainThread };
  }

  @http('GET', '/slow/:ms')
  @cpuBound
  slow(req) {
    const end = Date.now() + Number(req.params.ms);
    while (Date.now() < end);
    return 'finished';
  }

  @http('GET', '/fail/:kind')
  @cpuBound
  fail(req) {
    if (req.params.kind === 'expected') throw new Invalid('bad input');
    if (req.params.kind === 'http') throw new HttpError(409, 'conflict');
    throw new TypeError('boom in a thread');
  }
}
`;

let dir: string;
let runner: ServiceRunner;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'enoki-http-offload-'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  const file = join(dir, 'service.ts');
  writeFileSync(file, SERVICE);
  const { HttpOffloadService } = (await import(pathToFileURL(file).href)) as { HttpOffloadService: ServiceClass };
  const config = loadConfig({ AMQP_URI: 'memory://', WEB_SERVER_ADDRESS: '127.0.0.1:0', POOL: { threads: 1 }, LOGGING: { level: 'silent' } });
  runner = new ServiceRunner(config, { logger: silentLogger() });
  runner.add(HttpOffloadService, { module: pathToFileURL(file).href, exportName: 'HttpOffloadService' });
  await runner.start();
  base = webServerAddress(config)!.url;
}, 60_000);

afterAll(async () => {
  await runner?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('@http with @cpuBound', () => {
  it('runs in a pool thread with the request cloned: bytes, params, query, headers', async () => {
    const res = await fetch(`${base}/sum/t1?x=1`, { method: 'POST', body: Buffer.from([1, 2, 3, 250]), headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-tag')).toBe('t1');
    expect(await res.json()).toEqual({ total: 256, bytes: true, inPool: true, query: { x: '1' }, type: 'application/octet-stream' });
  });

  it('gets parsed JSON bodies', async () => {
    const res = await fetch(`${base}/json`, { method: 'POST', body: '{"values":[1,2,3]}', headers: { 'content-type': 'application/json' } });
    expect(await res.json()).toEqual({ doubled: [2, 4, 6], inPool: true });
  });

  it('answers errors from the thread as inline ones: 400 expected, 500 others', async () => {
    expect(await fetch(`${base}/fail/expected`).then(async (r) => [r.status, await r.text()])).toEqual([400, 'Error: Invalid: bad input\n']);
    expect(await fetch(`${base}/fail/other`).then(async (r) => [r.status, await r.text()])).toEqual([500, 'Error: TypeError: boom in a thread\n']);
  });

  it('keeps an HttpError status from the thread', async () => {
    const res = await fetch(`${base}/fail/http`);
    expect(res.status).toBe(409);
    expect(await res.text()).toBe('Error: HttpError: conflict\n');
  });
});

describe('a @cpuBound request cut off at shutdown', () => {
  it('answers 503 with Retry-After when the pool task is aborted past POOL.shutdown_grace', async () => {
    // The server registry is per address, and '127.0.0.1:0' names the first runner's
    // server: that one is done, so stop it and start one with a short grace.
    await runner.stop();
    const file = join(dir, 'service.ts');
    const { HttpOffloadService } = (await import(pathToFileURL(file).href)) as { HttpOffloadService: ServiceClass };
    const config = loadConfig({ AMQP_URI: 'memory://http-offload-grace', WEB_SERVER_ADDRESS: '127.0.0.1:0', POOL: { threads: 1, shutdown_grace: 0.3 }, LOGGING: { level: 'silent' } });
    const short = new ServiceRunner(config, { logger: silentLogger() });
    short.add(HttpOffloadService, { module: pathToFileURL(file).href, exportName: 'HttpOffloadService' });
    await short.start();
    const pending = fetch(`${webServerAddress(config)!.url}/slow/3000`);
    await new Promise((r) => setTimeout(r, 400));
    const stopped = short.stop();
    const res = await pending;
    await stopped;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.text()).toMatch(/shutting down/);
  }, 20_000);
});
