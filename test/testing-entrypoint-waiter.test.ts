import { afterEach, describe, expect, it } from 'vitest';
import { DependencyProvider, dependency, rpc, type WorkerContext } from 'enoki';
import { entrypointWaiter, EntrypointWaiterTimeout, serviceFixtures } from 'enoki/testing';
import { sleep } from './helpers/eventually.js';

class TeardownLog extends DependencyProvider<null> {
  readonly tornDown: string[] = [];
  getDependency(): null {
    return null;
  }
  override async workerTeardown(ctx: WorkerContext): Promise<void> {
    await sleep(5);
    this.tornDown.push(String(ctx.args[0]));
  }
}
const Teardown = dependency(TeardownLog);

class EventService {
  static name = 'events';
  log = new Teardown();

  @rpc
  async handle(event: string) {
    await sleep(10);
    return `handled ${event}`;
  }

  @rpc
  reject(reason: string) {
    throw new Error(reason);
  }

  @rpc
  other() {
    return 'other';
  }
}

const services = serviceFixtures(afterEach);

function listenerCount(container: object): number {
  // The container's worker path (src/worker-path.ts) holds the onWorkerDone listeners.
  return (container as unknown as { workers: { workerDoneListeners: Set<unknown> } }).workers.workerDoneListeners.size;
}

describe('entrypointWaiter', () => {
  it('resolves with the outcome of a call someone else made, once its worker is torn down', async () => {
    const container = await services.start(EventService);
    const client = await services.client();
    const done = entrypointWaiter(container, 'handle');
    void client.events.handle('e1');
    const outcome = await done;
    expect(outcome.result).toBe('handled e1');
    expect(outcome.error).toBeUndefined();
    expect(outcome.ctx.entrypoint).toBe('rpc');
    expect(outcome.ctx.methodName).toBe('handle');
    expect((container.providers.get('log') as TeardownLog).tornDown).toEqual(['e1']);
  });

  it('resolves, not rejects, when the method threw', async () => {
    const container = await services.start(EventService);
    const client = await services.client();
    const done = entrypointWaiter(container, 'reject');
    await expect(client.events.reject('no')).rejects.toMatchObject({ excType: 'Error', value: 'no' });
    const outcome = await done;
    expect(outcome.error).toBeInstanceOf(Error);
    expect(outcome.error!.message).toBe('no');
  });

  it('ignores other methods, and calls the filter rejects', async () => {
    const container = await services.start(EventService);
    const client = await services.client();
    const done = entrypointWaiter(container, 'handle', { filter: ({ ctx }) => ctx.args[0] === 'wanted' });
    await client.events.other();
    await client.events.handle('unwanted');
    await client.events.handle('wanted');
    expect((await done).result).toBe('handled wanted');
    expect(listenerCount(container)).toBe(0);
  });

  it('rejects with EntrypointWaiterTimeout when the entrypoint does not run in time, and stops listening', async () => {
    const container = await services.start(EventService);
    const started = performance.now();
    const err = await entrypointWaiter(container, 'handle', { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(err).toBeInstanceOf(EntrypointWaiterTimeout);
    expect(err).toMatchObject({ message: 'entrypointWaiter: events.handle did not run within 50 ms', serviceName: 'events', methodName: 'handle', timeoutMs: 50 });
    expect(listenerCount(container)).toBe(0);
  });

  it('does not raise an unhandled rejection for a waiter nobody awaited', async () => {
    const container = await services.start(EventService);
    entrypointWaiter(container, 'handle', { timeoutMs: 10 });
    // vitest fails the run on an unhandled rejection; give the timeout time to fire.
    await sleep(40);
  });

  it('rejects with the error a filter throws', async () => {
    const container = await services.start(EventService);
    const client = await services.client();
    const done = entrypointWaiter(container, 'handle', {
      filter: () => {
        throw new Error('assertion inside the filter');
      },
    });
    await client.events.handle('x');
    await expect(done).rejects.toThrow('assertion inside the filter');
    expect(listenerCount(container)).toBe(0);
  });

  it('refuses an unknown method and a timeout that is not a positive number', () => {
    const container = services.container(EventService);
    // @ts-expect-error: not a method of EventService
    expect(() => entrypointWaiter(container, 'handel')).toThrow(/entrypointWaiter\(events, "handel"\): the service has no such entrypoint/);
    expect(() => entrypointWaiter(container, 'handle', { timeoutMs: 0 })).toThrow('entrypointWaiter: timeoutMs must be a positive number');
    // Misusing a testing helper is a coded error, as every error enoki raises.
    // @ts-expect-error: not a method of EventService
    expect(() => entrypointWaiter(container, 'handel')).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_TESTING_USAGE' }));
    expect(() => entrypointWaiter(container, 'handle', { timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_TESTING_USAGE' }));
  });
});
