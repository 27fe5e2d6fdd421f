import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { cpuBound, DependencyProvider, dependency, IncorrectSignature, rpc, type WorkerContext } from 'enoki';
import type { OffloadRequest } from '../src/service-container.js';
import { entrypointHook, serviceFixtures } from 'enoki/testing';
import { sleep } from './helpers/eventually.js';

/** Records every hook the container runs around a call, and injects the call's context. */
class AuditProvider extends DependencyProvider<WorkerContext> {
  readonly events: string[] = [];
  getDependency(ctx: WorkerContext): WorkerContext {
    this.events.push(`inject ${ctx.methodName}`);
    return ctx;
  }
  override workerSetup(ctx: WorkerContext): void {
    this.events.push(`setup ${ctx.methodName}`);
  }
  override workerResult(ctx: WorkerContext, result: unknown, error: Error | undefined): void {
    this.events.push(`result ${ctx.methodName} ${error ? `error ${error.message}` : String(result)}`);
  }
  override workerTeardown(ctx: WorkerContext): void {
    this.events.push(`teardown ${ctx.methodName}`);
  }
}
const Audit = dependency(AuditProvider);

class Refused extends Error {
  override name = 'Refused';
}

let running = 0;
let maxRunning = 0;

class HookedService {
  static name = 'hooked';
  ctx = new Audit();

  @rpc
  hello(name: string, punctuation = '!') {
    return `Hello, ${name}${punctuation}`;
  }

  @rpc
  whoami() {
    return {
      entrypoint: this.ctx.entrypoint,
      contextData: this.ctx.contextData,
      stack: this.ctx.callIdStack,
      callId: this.ctx.callId,
      again: this.ctx.callId,
      json: JSON.parse(JSON.stringify(this.ctx)) as Record<string, unknown>,
    };
  }

  @rpc
  refuse() {
    throw new Refused('not today');
  }

  @rpc({ name: 'wire_name' })
  aliased() {
    return 'aliased';
  }

  @rpc
  when() {
    return new Date(0);
  }

  @rpc
  async slow() {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await sleep(30);
    running--;
    return 'slow';
  }
}

// Apart from HookedService, so that the other tests do not need an offload executor.
class CrunchService {
  static name = 'crunch';
  ctx = new Audit();

  @rpc
  @cpuBound
  crunch(n: number) {
    return n * 2;
  }
}

const services = serviceFixtures(afterEach);

function auditOf(container: { providers: ReadonlyMap<string, unknown> }): string[] {
  return (container.providers.get('ctx') as AuditProvider).events;
}

/** Runs @cpuBound calls inline and remembers them: proves the hook takes the offload path. */
function inlineOffload() {
  const requests: OffloadRequest[] = [];
  return {
    requests,
    executor: {
      async run(request: OffloadRequest) {
        requests.push(request);
        const instance = Object.assign(new CrunchService(), request.dependencies) as unknown as Record<string, (...a: unknown[]) => unknown>;
        return instance[request.method.methodName]!(...request.args);
      },
      async close() {},
    },
  };
}

describe('entrypointHook', () => {
  it('calls the method through the worker path: injection, then setup, result and teardown hooks', async () => {
    const container = await services.start(HookedService);
    const hello = entrypointHook(container, 'hello');
    expect(await hello('Matt')).toBe('Hello, Matt!');
    expect(auditOf(container)).toEqual(['inject hello', 'setup hello', 'result hello Hello, Matt!', 'teardown hello']);
  });

  it('gives the worker context the contextData and the entrypoint kind "direct"', async () => {
    const container = await services.start(HookedService);
    const seen = await entrypointHook(container, 'whoami', { contextData: { user_id: 'u-1', language: 'nl' } })();
    expect(seen.entrypoint).toBe('direct');
    expect(seen.contextData).toEqual({ user_id: 'u-1', language: 'nl' });
    expect(seen.stack).toHaveLength(1);
    // Made on first read, then the same on every read, and the last entry of the stack.
    expect(seen.callId).toMatch(/^hooked\.whoami\.[0-9a-f-]{36}$/);
    expect(seen.again).toBe(seen.callId);
    expect(seen.stack).toEqual([seen.callId]);
    // Serialized (a logger, a test printing it), the context keeps its call id and stack.
    expect(seen.json).toMatchObject({ serviceName: 'hooked', methodName: 'whoami', callId: seen.callId, callIdStack: [seen.callId] });
  });

  it("rejects with the method's own error object, after the hooks saw it", async () => {
    const container = await services.start(HookedService);
    const err = await entrypointHook(container, 'refuse')().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Refused);
    expect((err as Error).message).toBe('not today');
    expect(auditOf(container)).toContain('result refuse error not today');
  });

  it('binds keyword arguments, and refuses a wrong call with the IncorrectSignature RPC would give', async () => {
    const container = await services.start(HookedService);
    const hello = entrypointHook(container, 'hello');
    expect(await hello.call([], { name: 'kw', punctuation: '?' })).toBe('Hello, kw?');
    await expect(hello.call([], {})).rejects.toThrow(new IncorrectSignature("hello() missing 1 required positional argument: 'name'"));
    expect(auditOf(container).filter((e) => e.startsWith('inject'))).toHaveLength(1);
  });

  it('names an entrypoint by its method name, not its RPC name', async () => {
    const container = await services.start(HookedService);
    expect(await entrypointHook(container, 'aliased')()).toBe('aliased');
    // @ts-expect-error: wire names are not method names
    expect(() => entrypointHook(container, 'wire_name')).toThrow(/no such entrypoint/);
  });

  it('returns the value itself, not a JSON round trip', async () => {
    const container = await services.start(HookedService);
    expect(await entrypointHook(container, 'when')()).toEqual(new Date(0));
  });

  it('holds to max_workers', async () => {
    const container = await services.start(HookedService, { config: { max_workers: 1 } });
    running = 0;
    maxRunning = 0;
    const slow = entrypointHook(container, 'slow');
    expect(await Promise.all([slow(), slow(), slow()])).toEqual(['slow', 'slow', 'slow']);
    expect(maxRunning).toBe(1);
  });

  it('counts calls queued for a slot as active, and a graceful stop waits for them', async () => {
    const container = await services.start(HookedService, { config: { max_workers: 1 } });
    running = 0;
    const slow = entrypointHook(container, 'slow');
    const calls = [slow(), slow(), slow()];
    // One runs, two wait for the slot: all three were accepted.
    expect(container.activeWorkers).toBe(3);
    const outcomes: string[] = [];
    for (const call of calls) void call.then((v) => outcomes.push(v));
    await container.stop();
    expect(outcomes).toEqual(['slow', 'slow', 'slow']);
    expect(container.activeWorkers).toBe(0);
    expect(container.state).toBe('stopped');
  });

  it('runs a @cpuBound method through the container offload executor', async () => {
    const offload = inlineOffload();
    const container = await services.start(CrunchService, { offload: offload.executor });
    expect(await entrypointHook(container, 'crunch')(21)).toBe(42);
    expect(offload.requests).toHaveLength(1);
    expect(offload.requests[0]!.ctx.entrypoint).toBe('direct');
    expect(offload.requests[0]!.args).toEqual([21]);
    expect(Object.keys(offload.requests[0]!.dependencies)).toEqual(['ctx']);
  });

  it('names the entrypoints there are when the name is wrong', async () => {
    const container = services.container(HookedService);
    // @ts-expect-error: not a method of HookedService
    expect(() => entrypointHook(container, 'helo')).toThrow(
      'entrypointHook(hooked, "helo"): the service has no such entrypoint; its entrypoints are hello, whoami, refuse, aliased, when, slow',
    );
  });

  it('needs a running container', async () => {
    const container = services.container(HookedService);
    const hello = entrypointHook(container, 'hello');
    await expect(hello('x')).rejects.toMatchObject({
      code: 'ENOKI_ERR_CONTAINER_STATE',
      message: 'service hooked is created; entrypointHook cannot call hello: await container.start() first',
    });
    await container.start();
    expect(await hello('x')).toBe('Hello, x!');
    await container.stop();
    await expect(hello('x')).rejects.toMatchObject({ code: 'ENOKI_ERR_CONTAINER_STATE' });
  });

  it('is typed from the service class', async () => {
    const container = services.container(HookedService);
    const hello = entrypointHook(container, 'hello');
    expectTypeOf(hello).parameters.toEqualTypeOf<[name: string, punctuation?: string]>();
    expectTypeOf(hello).returns.resolves.toEqualTypeOf<string>();
  });
});
