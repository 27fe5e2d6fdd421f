// @cpuBound calls through the real RPC path (RabbitMQ), run in real pool threads: what
// reaches the thread, what comes back, and that errors read exactly as inline ones.

import { pino } from 'pino';
import { isMainThread } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, ServiceRunner, type ClusterClient, type ServiceContainer } from '../src/index.js';
import { locateModule, moduleUrl } from '../src/offload/locate-module.js';
import { CallsService, CallsTarget, recorded } from './fixtures/offload/services.js';
import { remoteError } from './helpers/remote-error.js';

const config = loadConfig({
  AMQP_URI: 'amqp://guest:guest@127.0.0.1:5672/',
  rpc_exchange: 'offload-calls-test',
  INCLUDE_REMOTE_STACK: true,
  POOL: { threads: 2 },
});

interface LogLine {
  level: number;
  msg: string;
  err?: { type: string; message: string };
  call?: string;
}
const logs: LogLine[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });

let runner: ServiceRunner;
let client: ClusterClient;
let container: ServiceContainer;
const svc = (): ClusterClient[string] => client.offload_calls_svc!;

beforeAll(async () => {
  runner = new ServiceRunner(config, { logger });
  // No `module` option: the container finds the class's module by itself.
  container = runner.add(CallsService);
  runner.add(CallsTarget);
  await runner.start();
  client = await ClusterRpcProxy.connect(config, { logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await client?.close();
  await runner?.stop();
});


describe('what crosses to a pool thread', () => {
  it('finds the module that defines the service class', async () => {
    expect(await locateModule(CallsService)).toBe(new URL('./fixtures/offload/services.ts', import.meta.url).href);
    expect(moduleUrl('test/fixtures/offload/services.ts')).toBe(new URL('./fixtures/offload/services.ts', import.meta.url).href);
  });

  it('runs the method in a thread; arguments and results cross by structured clone', async () => {
    const value = { n: 1.5, list: [1, 'two', null], nested: { deep: true } };
    expect(await svc().echo(value)).toEqual(value);
  });

  it('serves dependencies from the main thread: a nested RPC call and a logging dependency', async () => {
    const result = (await svc().greet('bob')) as Record<string, unknown>;
    expect(result).toMatchObject({ greeting: 'Hello, bob!', onMainThread: false });
    // Plain-data dependencies arrive by value.
    expect(result).toMatchObject({ limit: 3, tags: ['a', 'b'] });
    const lines = recorded.filter((r) => r.message.endsWith(' bob'));
    // Both log calls ran on the main thread, for this call, including the un-awaited one
    // made just before the method returned.
    expect(lines.map((r) => r.message)).toEqual(['greeting bob', 'greeted bob']);
    expect(lines.every((r) => r.onMainThread && r.callId.startsWith('offload_calls_svc.greet.'))).toBe(true);
    expect(new Set(lines.map((r) => r.callId)).size).toBe(1);
    expect(isMainThread).toBe(true);
  });

  it('gives a failed nested call to the thread as the error it would be inline', async () => {
    expect(await svc().nestedFailure()).toMatchObject({ name: 'RemoteError', excType: 'ModelError', code: 'ENOKI_ERR_REMOTE' });
  });

  it('initialises statics once per thread, not per call', async () => {
    const results = (await Promise.all(Array.from({ length: 12 }, () => svc().statics()))) as Array<Record<string, number | boolean>>;
    for (const r of results) {
      expect(r.onMainThread).toBe(false);
      expect(r.modelLoads).toBe(1);
      expect(r.loadedIn).toBe(r.threadId);
    }
    expect(new Set(results.map((r) => r.threadId)).size).toBeLessThanOrEqual(config.POOL.threads);
  });
});

describe('errors', () => {
  it('a thrown error has the same remote type, path, args and message as inline, with the thread stack', async () => {
    const pooled = await remoteError(svc().boom('bad weights'));
    const inline = await remoteError(svc().boomInline('bad weights'));
    for (const err of [pooled, inline]) {
      expect(err.excType).toBe('ModelError');
      expect(err.excPath).toBe('inference.ModelError');
      expect(err.excArgs).toEqual(['bad weights']);
      expect(err.value).toBe('bad weights');
    }
    expect(pooled.remoteStack).toMatch(/^ModelError: bad weights\n\s+at CallsService\.boom \(.*services\.ts/);
    expect(pooled.remoteStack).toContain('offload-worker');
    // Logged like the inline one: at error level, with the class name as its type.
    const logged = logs.find((l) => l.msg === 'offload_calls_svc.boom raised ModelError: bad weights');
    expect(logged?.level).toBe(50);
    expect(logged?.err?.type).toBe('ModelError');
  });

  it("an ExpectedError keeps its class on the main thread (logged at warn, as inline)", async () => {
    const err = await remoteError(svc().rejectInput('no negative sizes'));
    expect(err.excType).toBe('InvalidInput');
    const logged = logs.find((l) => l.msg === 'offload_calls_svc.rejectInput raised an expected error');
    expect(logged?.level).toBe(40);
  });

  it('a thrown non-Error reads as inline', async () => {
    const pooled = await remoteError(svc().throwString());
    const inline = await remoteError(svc().throwStringInline());
    expect([pooled.excType, pooled.value]).toEqual([inline.excType, inline.value]);
  });

  it('a result that cannot be cloned fails with ENOKI_ERR_NOT_CLONEABLE and the thread survives', async () => {
    const before = new Set((await Promise.all(Array.from({ length: 8 }, () => svc().whoami()))) as number[]);
    const err = await remoteError(svc().returnsFunction());
    expect(err.value).toMatch(/^the result of offload_calls_svc\.returnsFunction cannot cross between threads: .*could not be cloned/);
    // Not the function's source (V8 puts it in the message): the caller sees what, not how.
    expect(err.value).not.toContain('=> 1');
    const after = (await Promise.all(Array.from({ length: 8 }, () => svc().whoami()))) as number[];
    for (const id of after) expect(before).toContain(id);
  });

  it('a dependency call from a thread with an argument that cannot cross fails with ENOKI_ERR_NOT_CLONEABLE naming the call', async () => {
    const err = await remoteError(svc().passesCallback());
    expect(err.remoteCode).toBe('ENOKI_ERR_NOT_CLONEABLE');
    expect(err.value).toMatch(/^an argument of this\.log\.info\(\) from a pool thread cannot cross between threads: .*could not be cloned/);
  });

  it('an argument that cannot be cloned fails with ENOKI_ERR_NOT_CLONEABLE naming it', async () => {
    // RPC arguments are JSON and always clone; a direct (or HTTP) call can pass anything.
    const method = container.definition.methods.get('echo')!;
    const outcome = await container.spawnWorker(method, [{ callback: () => 1 }], { entrypoint: 'direct' });
    expect(outcome.error).toMatchObject({ code: 'ENOKI_ERR_NOT_CLONEABLE' });
    expect(outcome.error?.message).toMatch(/^argument 'value' \(#1\) of offload_calls_svc\.echo cannot cross between threads: /);
  });

  it('a module that starts services when imported fails the start with an explanation', async () => {
    await expect(import('./fixtures/offload/self-starting.js')).rejects.toThrow(
      /could not import .*self-starting\.ts: EnokiError: service offload_self_starting is being imported by a worker-pool thread; a module that defines a @cpuBound service must not start services when imported/,
    );
  });
});
