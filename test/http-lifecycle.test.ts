// The process's shared web server: started by the first container with @http methods,
// shared by the others, closed with the last; graceful stop and kill; start failures.

import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceContainer, http, isEnokiError, loadConfig, rpc, webServerAddress, type EnokiConfig, type HttpRequest } from '../src/index.js';
import { silentLogger } from '../src/logger.js';

const ADDRESS = '127.0.0.1:0';
const config = (over: Record<string, unknown> = {}): EnokiConfig =>
  loadConfig({ AMQP_URI: 'memory://', WEB_SERVER_ADDRESS: ADDRESS, LOGGING: { level: 'silent' }, ...over });

let release: () => void = () => undefined;

class Alpha {
  static name = 'http_life_alpha';
  @http('GET', '/alpha')
  alpha() {
    return 'alpha';
  }
  @http('GET', '/alpha/slow')
  async slow() {
    await new Promise<void>((resolve) => (release = resolve));
    return 'slow done';
  }
}

class Beta {
  static name = 'http_life_beta';
  @http('GET', '/beta')
  beta() {
    return 'beta';
  }
}

class Clash {
  static name = 'http_life_clash';
  @http('GET', '/alpha')
  mine() {
    return 'clash';
  }
}

class BadSignature {
  static name = 'http_life_bad_signature';
  @http('GET', '/items/:id')
  item(_req: HttpRequest, itemId: string) {
    return itemId;
  }
}

class RpcOnly {
  static name = 'http_life_rpc_only';
  @rpc
  ping() {
    return 'pong';
  }
}

const containers: ServiceContainer[] = [];
const servers: Server[] = [];

function container(cls: ConstructorParameters<typeof ServiceContainer>[0], cfg = config()): ServiceContainer {
  const made = new ServiceContainer(cls, cfg, { logger: silentLogger() });
  containers.push(made);
  return made;
}

afterEach(async () => {
  release();
  await Promise.all(containers.splice(0).map((c) => c.kill()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function url(): string {
  const found = webServerAddress(ADDRESS);
  if (!found) throw new Error('no web server is running');
  return found.url;
}

async function text(path: string, base = url()): Promise<{ status: number; text: string; connection: string | null }> {
  const res = await fetch(base + path);
  return { status: res.status, text: await res.text(), connection: res.headers.get('connection') };
}

function refused(base: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(`${base}/alpha`, { agent: false }, (res) => {
      res.resume();
      resolve(false);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    req.end();
  });
}

describe('one server per process and address', () => {
  it('starts with the first @http container, is shared, and closes with the last', async () => {
    const alpha = container(Alpha);
    const beta = container(Beta);
    expect(webServerAddress(ADDRESS)).toBeUndefined();
    await alpha.start();
    const base = url();
    await beta.start();
    expect(url()).toBe(base);
    expect(await text('/alpha')).toMatchObject({ status: 200, text: 'alpha' });
    expect(await text('/beta')).toMatchObject({ status: 200, text: 'beta' });

    await alpha.stop();
    expect(url()).toBe(base);
    expect((await text('/alpha')).status).toBe(404);
    expect(await text('/beta')).toMatchObject({ status: 200, text: 'beta' });

    // fetch keeps its connection alive: closing must not wait for it to time out.
    const started = Date.now();
    await beta.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(webServerAddress(ADDRESS)).toBeUndefined();
    expect(await refused(base)).toBe(true);
  });

  it('a stopped container can start again', async () => {
    const alpha = container(Alpha);
    await alpha.start();
    await alpha.stop();
    await alpha.start();
    expect((await text('/alpha')).text).toBe('alpha');
    await alpha.stop();
  });

  it('does not start a web server for a service without @http', async () => {
    const only = container(RpcOnly);
    await only.start();
    expect(webServerAddress(ADDRESS)).toBeUndefined();
    await only.stop();
  });
});

describe('stopping', () => {
  it('graceful stop answers requests in flight, refuses new ones with 503, then closes', async () => {
    const alpha = container(Alpha);
    await alpha.start();
    const base = url();
    const inFlight = text('/alpha/slow', base);
    await new Promise((r) => setTimeout(r, 50));
    const stopping = alpha.stop();
    await new Promise((r) => setTimeout(r, 20));
    expect(alpha.state).toBe('stopping');

    const refusedNow = await text('/alpha', base);
    expect(refusedNow).toMatchObject({ status: 503, text: 'Error: ServiceUnavailable: service http_life_alpha is stopping\n', connection: 'close' });

    release();
    expect(await inFlight).toMatchObject({ status: 200, text: 'slow done' });
    await stopping;
    expect(alpha.state).toBe('stopped');
    expect(await refused(base)).toBe(true);
  });

  it('kill closes the server at once, cutting requests in flight', async () => {
    const alpha = container(Alpha);
    await alpha.start();
    const base = url();
    const inFlight = fetch(`${base}/alpha/slow`).then(
      () => 'answered',
      () => 'cut',
    );
    await new Promise((r) => setTimeout(r, 50));
    await alpha.kill();
    expect(await inFlight).toBe('cut');
    expect(webServerAddress(ADDRESS)).toBeUndefined();
  });
});

describe('start failures', () => {
  it('refuses a route another service already serves, naming it; the first keeps serving', async () => {
    const alpha = container(Alpha);
    await alpha.start();
    const clash = container(Clash);
    const err = await clash.start().catch((e: unknown) => e);
    expect(isEnokiError(err, 'ENOKI_ERR_SERVICE_INVALID')).toBe(true);
    expect((err as Error).message).toContain('route GET /alpha is already served by service http_life_alpha');
    expect((await text('/alpha')).text).toBe('alpha');
    await alpha.stop();
    expect(webServerAddress(ADDRESS)).toBeUndefined();
  });

  it('refuses a required parameter that is not a path parameter, and leaves no server behind', async () => {
    const err = await container(BadSignature).start().catch((e: unknown) => e);
    expect(isEnokiError(err, 'ENOKI_ERR_SERVICE_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/item\(\) parameter 2 \(itemId\) is not a path parameter of GET \/items\/:id/);
    expect(webServerAddress(ADDRESS)).toBeUndefined();
  });

  it('reports an address in use with a coded error', async () => {
    const taken = createServer();
    servers.push(taken);
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    const err = await container(Alpha, config({ WEB_SERVER_ADDRESS: `127.0.0.1:${port}` })).start().catch((e: unknown) => e);
    expect(isEnokiError(err, 'ENOKI_ERR_CONTAINER_STATE')).toBe(true);
    expect((err as Error).message).toContain(`cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`);
  });
});
