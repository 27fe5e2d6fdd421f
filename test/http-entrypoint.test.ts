// @http entrypoints against a real web server and a real broker: routes, path params,
// query, headers, bodies, every return shape, status codes and errors, and the worker
// path (dependencies, hooks, max_workers, @cpuBound through an offload executor).

import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClusterRpcProxy,
  DependencyProvider,
  ExpectedError,
  HttpError,
  ServiceRunner,
  cpuBound,
  http,
  json,
  loadConfig,
  response,
  rpc,
  webServerAddress,
  type HttpRequest,
  type WorkerContext,
} from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import type { OffloadExecutor, OffloadRequest } from '../src/service-container.js';
import { createVhost, type TestVhost } from './support/vhost.js';

class Invalid extends ExpectedError {}
class ValueError extends Error {
  override name = 'ValueError';
}
/** An ExpectedError that carries its own status (as a copy from a pool thread does). */
class Gone extends ExpectedError {
  readonly status = 410;
}
/** Not expected: its `status` (as an HTTP client's error has) is not the response's. */
class UpstreamError extends Error {
  readonly status = 404;
}
class UserNotFound extends HttpError {
  constructor(id: string) {
    super(404, `no user ${id}`);
  }
}

const events: string[] = [];

class Recorder extends DependencyProvider<string> {
  getDependency(ctx: WorkerContext): string {
    return `${ctx.entrypoint}:${ctx.methodName}`;
  }
  override workerSetup(ctx: WorkerContext): void {
    events.push(`setup ${ctx.methodName}`);
  }
  override workerResult(ctx: WorkerContext, _result: unknown, error: Error | undefined): void {
    events.push(`result ${ctx.methodName} ${error ? error.name : 'ok'}`);
  }
}

let concurrent = 0;
let peak = 0;

class WebService {
  static name = 'http_ep_web';
  recorder = new Recorder();

  @http('GET', '/hello/:name')
  hello(req: HttpRequest) {
    return `Hello, ${req.params.name}!`;
  }

  @http('GET', '/files/:dir/:file')
  file(_req: HttpRequest, dir: string, file = 'index') {
    return { dir, file };
  }

  @http('GET', '/inspect')
  inspect(req: HttpRequest) {
    return { method: req.method, url: req.url, path: req.path, query: req.query, ua: req.headers['x-test'] };
  }

  @http('POST,PUT', '/echo')
  echo(req: HttpRequest) {
    const body = req.body;
    const kind = body instanceof Uint8Array ? 'bytes' : body === undefined ? 'none' : typeof body;
    return { method: req.method, kind, body: body instanceof Uint8Array ? [...body] : body };
  }

  @http('GET', '/shape/:kind')
  shape(req: HttpRequest) {
    switch (req.params.kind) {
      case 'object': return { a: 1 };
      case 'array': return [1, 2, 3];
      case 'number': return 42;
      case 'null': return null;
      case 'undefined': return undefined;
      case 'tuple2': return [201, { created: true }];
      case 'tuple3': return [302, { Location: '/elsewhere', 'X-Extra': 'yes' }, ''];
      case 'response': return response(202, 'accepted', { 'x-id': '7', 'set-cookie': ['a=1', 'b=2'] });
      case 'plain-response': return { status: 418, body: { teapot: true } };
      case 'bytes': return Buffer.from([1, 2, 3]);
      case 'json-string': return json('ok');
      case 'json-tuple': return json([200, 'x']);
      case 'bigint': return { big: 12345678901234567890n };
      case 'content-type': return [200, { 'Content-Type': 'text/html; charset=utf-8' }, '<b>hi</b>'];
      case 'circular': { const o: Record<string, unknown> = {}; o.self = o; return o; }
      case 'bad-status': return { status: 99, body: 'x' };
      case 'bad-header': return [200, { 'x-bad': 'a\nb' }, 'x'];
      default: return 'unknown';
    }
  }

  @http('GET', '/error/:kind')
  error(req: HttpRequest) {
    switch (req.params.kind) {
      case 'expected': throw new Invalid('that is not allowed');
      case 'http': throw new UserNotFound('9');
      case 'http-headers': throw new HttpError(429, 'slow down', { headers: { 'retry-after': '3' } });
      case 'declared': throw new ValueError('declared bad input');
      case 'string': throw 'a bare string';
      case 'gone': throw new Gone('moved away');
      case 'upstream': throw new UpstreamError('upstream said 404');
      default: throw new TypeError('boom');
    }
  }

  @rpc({ expected: [ValueError] })
  @http('GET', '/both/:x')
  both(req: HttpRequest | string) {
    if (typeof req === 'string') return `rpc ${req}`;
    if (req.params.x === 'bad') throw new ValueError('bad x');
    return `http ${req.params.x}`;
  }

  @http('GET', '/http-expected/:x', { expected: [ValueError] })
  http_expected(req: HttpRequest) {
    throw new ValueError(`bad ${req.params.x}`);
  }

  @http('GET', '/dependency')
  dependency() {
    return this.recorder;
  }

  @http('GET', '/slow')
  async slow() {
    concurrent++;
    peak = Math.max(peak, concurrent);
    await new Promise((r) => setTimeout(r, 50));
    concurrent--;
    return 'done';
  }

  @http('POST', '/offloaded')
  @cpuBound
  offloaded(req: HttpRequest) {
    const body = req.body as Uint8Array;
    return { sum: body.reduce((a, b) => a + b, 0), isBuffer: Buffer.isBuffer(body), params: req.params };
  }
}

class OtherService {
  static name = 'http_ep_other';
  @http('GET', '/other')
  other() {
    return 'from the other service';
  }
}

// Stands in for the pool: it runs the method on a fresh instance after a structuredClone
// of the arguments, as a pool thread would receive them. A request that cannot be
// cloned fails here.
const offloaded: OffloadRequest[] = [];
const fakePool: OffloadExecutor = {
  async run(request) {
    offloaded.push(request);
    const args = structuredClone(request.args);
    const instance = new WebService() as unknown as Record<string, (...a: unknown[]) => unknown>;
    return structuredClone(await instance[request.method.methodName]!(...args));
  },
  async close() {},
};

let vhost: TestVhost;
let runner: ServiceRunner;
let base: string;
const config = () =>
  loadConfig({
    AMQP_URI: vhost.uri,
    rpc_exchange: 'http-entrypoint-test',
    WEB_SERVER_ADDRESS: '127.0.0.1:0',
    MAX_MESSAGE_SIZE: 1024,
    max_workers: 2,
    LOGGING: { level: 'silent' },
  });

beforeAll(async () => {
  vhost = createVhost('http-ep');
  runner = new ServiceRunner(config(), { logger: silentLogger() });
  runner.add(WebService, { offload: fakePool });
  runner.add(OtherService);
  await runner.start();
  base = webServerAddress(runner.config)!.url;
});

afterAll(async () => {
  await runner?.stop();
  vhost?.remove();
});

async function get(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(base + path, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A raw request, for what fetch will not send (chunked bodies, lying headers). */
function raw(method: string, path: string, headers: Record<string, string>, chunks: Array<string | Buffer> = []): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    // The server may answer and close before the whole body is sent.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('routes and the request', () => {
  it('serves a route with a path parameter as text', async () => {
    const res = await get('/hello/world');
    expect(res).toMatchObject({ status: 200, text: 'Hello, world!' });
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('connection')).toBe('keep-alive');
  });

  it('percent-decodes path parameters', async () => {
    expect((await get('/hello/J%C3%BCrgen%20B')).text).toBe('Hello, Jürgen B!');
  });

  it('passes path parameters by name after the request, as nameko does', async () => {
    expect(JSON.parse((await get('/files/docs/readme.md')).text)).toEqual({ dir: 'docs', file: 'readme.md' });
  });

  it('gives method, url, path, query (repeated keys as arrays) and headers', async () => {
    const res = await get('/inspect?a=1&a=2&b=x%20y&empty=', { headers: { 'X-Test': 'yes' } });
    expect(JSON.parse(res.text)).toEqual({
      method: 'GET',
      url: '/inspect?a=1&a=2&b=x%20y&empty=',
      path: '/inspect',
      query: { a: ['1', '2'], b: 'x y', empty: '' },
      ua: 'yes',
    });
  });

  it('answers another service on the same server', async () => {
    expect(await get('/other')).toMatchObject({ status: 200, text: 'from the other service' });
  });

  it('answers 404 when no route matches', async () => {
    const res = await get('/nowhere?x=1');
    expect(res).toMatchObject({ status: 404, text: 'Error: NotFound: no route for GET /nowhere\n' });
  });

  it('answers 405 with Allow when the path exists under other methods', async () => {
    const res = await get('/echo', { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST, PUT, OPTIONS');
    expect(res.text).toMatch(/^Error: MethodNotAllowed: DELETE is not allowed on \/echo/);
  });

  it('answers OPTIONS with 204 and Allow', async () => {
    const res = await get('/hello/x', { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  });

  it('answers HEAD for a GET route, with the length and no body', async () => {
    const res = await raw('HEAD', '/hello/world', {});
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('13');
    expect(res.text).toBe('');
  });

  it('answers 414 for an over-long path parameter and 400 for a malformed URL', async () => {
    expect((await get(`/hello/${'x'.repeat(101)}`)).status).toBe(414);
    const bad = await raw('GET', '/hello/%E0%A4%A', {});
    expect(bad.status).toBe(400);
  });
});

describe('request bodies', () => {
  const post = (body: string | Buffer, type?: string) => get('/echo', { method: 'POST', body, headers: type ? { 'content-type': type } : {} });

  it('parses JSON, including +json types', async () => {
    expect(JSON.parse((await post('{"a":[1,2]}', 'application/json')).text)).toEqual({ method: 'POST', kind: 'object', body: { a: [1, 2] } });
    expect(JSON.parse((await post('"s"', 'application/vnd.api+json; charset=utf-8')).text).body).toBe('s');
  });

  it('gives text for text/*, decoded with the declared charset', async () => {
    expect(JSON.parse((await post('plain words', 'text/plain')).text)).toMatchObject({ kind: 'string', body: 'plain words' });
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in ISO-8859-1
    expect(JSON.parse((await post(latin1, 'text/plain; charset=iso-8859-1')).text).body).toBe('café');
  });

  it('parses urlencoded forms', async () => {
    const res = await post('a=1&b=two+words&a=3', 'application/x-www-form-urlencoded');
    expect(JSON.parse(res.text).body).toEqual({ a: ['1', '3'], b: 'two words' });
  });

  it('gives bytes for other types, and for no type', async () => {
    expect(JSON.parse((await post(Buffer.from([0, 1, 255]), 'application/octet-stream')).text)).toMatchObject({ kind: 'bytes', body: [0, 1, 255] });
    expect(JSON.parse((await raw('POST', '/echo', { 'content-length': '2' }, ['hi'])).text)).toMatchObject({ kind: 'bytes' });
  });

  it('gives undefined when there is no body', async () => {
    expect(JSON.parse((await get('/echo', { method: 'PUT' })).text)).toMatchObject({ method: 'PUT', kind: 'none' });
  });

  it('answers 400 for JSON that does not parse, and for prototype poisoning', async () => {
    const res = await post('{"a":', 'application/json');
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/^Error: BadRequest: request body could not be read: invalid JSON: /);
    expect((await post('{"__proto__":{"admin":true}}', 'application/json')).status).toBe(400);
    expect((await post('{"constructor":{"prototype":{"admin":true}}}', 'application/json')).status).toBe(400);
  });

  it('answers 413 over MAX_MESSAGE_SIZE, by Content-Length and while streaming', async () => {
    const declared = await post('x'.repeat(1025), 'text/plain');
    expect(declared.status).toBe(413);
    expect(declared.headers.get('connection')).toBe('close');
    expect(declared.text).toBe('Error: PayloadTooLarge: body of 1025 bytes exceeds the limit of 1024 bytes\n');
    const chunked = await raw('POST', '/echo', { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' }, ['x'.repeat(600), 'y'.repeat(600)]);
    expect(chunked.status).toBe(413);
    expect((await post('x'.repeat(1024), 'text/plain')).status).toBe(200);
  });

  it('answers 415 for a compressed body and an unknown charset', async () => {
    expect((await raw('POST', '/echo', { 'content-encoding': 'gzip', 'content-length': '2' }, ['xx'])).status).toBe(415);
    expect((await post('x', 'text/plain; charset=klingon')).status).toBe(415);
  });
});

describe('responses', () => {
  const shape = async (kind: string) => get(`/shape/${kind}`);

  it('sends objects, arrays, numbers and null as JSON', async () => {
    for (const [kind, body] of [['object', '{"a":1}'], ['array', '[1,2,3]'], ['number', '42'], ['null', 'null']]) {
      const res = await shape(kind!);
      expect(res).toMatchObject({ status: 200, text: body });
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    }
  });

  it('sends 204 with no body for undefined', async () => {
    const res = await shape('undefined');
    expect(res).toMatchObject({ status: 204, text: '' });
    expect(res.headers.get('content-length')).toBeNull();
  });

  it('reads [status, body] and [status, headers, body]', async () => {
    expect(await shape('tuple2')).toMatchObject({ status: 201, text: '{"created":true}' });
    const res = await fetch(`${base}/shape/tuple3`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/elsewhere');
    expect(res.headers.get('x-extra')).toBe('yes');
  });

  it('reads HttpResponse objects, from response() or by hand', async () => {
    const made = await shape('response');
    expect(made).toMatchObject({ status: 202, text: 'accepted' });
    expect(made.headers.get('x-id')).toBe('7');
    expect(made.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await shape('plain-response')).toMatchObject({ status: 418, text: '{"teapot":true}' });
  });

  it('sends bytes as application/octet-stream', async () => {
    const res = await fetch(`${base}/shape/bytes`);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([1, 2, 3]);
  });

  it('json() forces JSON for strings and tuple-shaped arrays', async () => {
    expect((await shape('json-string')).text).toBe('"ok"');
    expect(await shape('json-tuple')).toMatchObject({ status: 200, text: '[200,"x"]' });
  });

  it('lets a handler set Content-Type in any case', async () => {
    const res = await shape('content-type');
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.text).toBe('<b>hi</b>');
  });

  it('sends an object whose status is not an HTTP status as JSON data', async () => {
    expect(await shape('bad-status')).toMatchObject({ status: 200, text: '{"status":99,"body":"x"}' });
  });

  it('sends BigInt as a string, as RPC replies do', async () => {
    expect((await shape('bigint')).text).toBe('{"big":"12345678901234567890"}');
  });

  it('answers 500 for a response that cannot be sent, and keeps serving', async () => {
    expect(await shape('circular')).toMatchObject({ status: 500, text: expect.stringMatching(/^Error: TypeError: Converting circular structure/) });
    expect((await shape('bad-header')).status).toBe(500);
    expect((await get('/hello/still')).status).toBe(200);
  });
});

describe('errors', () => {
  it('answers 400 for an ExpectedError, in nameko format', async () => {
    expect(await get('/error/expected')).toMatchObject({ status: 400, text: 'Error: Invalid: that is not allowed\n' });
  });

  it('answers 400 for an error declared expected on the method', async () => {
    expect(await get('/both/bad')).toMatchObject({ status: 400, text: 'Error: ValueError: bad x\n' });
  });

  it('answers 400 for an error declared expected in @http options', async () => {
    expect(await get('/http-expected/y')).toMatchObject({ status: 400, text: 'Error: ValueError: bad y\n' });
  });

  it('answers 500 for anything else, and for non-Error throws', async () => {
    const res = await get('/error/other');
    expect(res).toMatchObject({ status: 500, text: 'Error: TypeError: boom\n' });
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await get('/error/string')).toMatchObject({ status: 500, text: 'Error: Error: a bare string\n' });
    // The same error class is not expected on a method that does not declare it.
    expect((await get('/error/declared')).status).toBe(500);
  });

  it('answers an ExpectedError that carries a status with it; other errors never choose their status', async () => {
    expect(await get('/error/gone')).toMatchObject({ status: 410, text: 'Error: Gone: moved away\n' });
    expect((await get('/error/upstream')).status).toBe(500);
  });

  it('answers an HttpError with its own status and headers', async () => {
    expect(await get('/error/http')).toMatchObject({ status: 404, text: 'Error: UserNotFound: no user 9\n' });
    const res = await get('/error/http-headers');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
  });
});

describe('the worker path', () => {
  it('injects dependencies and runs worker hooks around the call', async () => {
    events.length = 0;
    expect((await get('/dependency')).text).toBe('http:dependency');
    await get('/error/other');
    expect(events).toEqual(['setup dependency', 'result dependency ok', 'setup error', 'result error TypeError']);
  });

  it('serves one method over RPC and HTTP', async () => {
    await using client = await ClusterRpcProxy.connect(runner.config);
    expect(await client.http_ep_web!.both('x')).toBe('rpc x');
    expect((await get('/both/y')).text).toBe('http y');
  });

  it('runs at most max_workers calls at once; the others wait', async () => {
    peak = 0;
    const all = await Promise.all(Array.from({ length: 6 }, () => get('/slow')));
    expect(all.every((r) => r.text === 'done')).toBe(true);
    expect(peak).toBe(2);
  });

  it('hands @cpuBound methods a structured-cloneable request', async () => {
    offloaded.length = 0;
    const res = await get('/offloaded', { method: 'POST', body: Buffer.from([1, 2, 3]), headers: { 'content-type': 'application/octet-stream' } });
    expect(JSON.parse(res.text)).toEqual({ sum: 6, isBuffer: false, params: {} });
    expect(offloaded).toHaveLength(1);
    expect(Object.keys(offloaded[0]!.args[0] as object).sort()).toEqual(['body', 'headers', 'method', 'params', 'path', 'query', 'url']);
  });

  it('survives clients that go away mid-request', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${base}/echo`, { method: 'POST', headers: { 'content-length': '100', 'content-type': 'text/plain' } });
      req.on('error', () => resolve());
      req.write('partial');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 20);
    });
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${base}/slow`);
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 10);
    });
    await new Promise((r) => setTimeout(r, 80));
    expect((await get('/hello/after')).status).toBe(200);
  });
});
