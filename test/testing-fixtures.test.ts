// serviceFixtures is driven here through a captured afterEach, so each test can run the
// teardown itself and look at what it left behind.

import { describe, expect, it } from 'vitest';
import { ClusterRpcProxy, DependencyProvider, rpc, RpcTimeout, UnknownService } from 'enoki';
import { serviceFixtures, type ServiceFixtureOptions } from 'enoki/testing';
import { sleep } from './helpers/eventually.js';

class Sleeper {
  static name = 'sleeper';
  @rpc
  async nap(ms: number) {
    await sleep(ms);
    return 'rested';
  }
}

class Other {
  static name = 'other';
  @rpc
  ping() {
    return 'pong';
  }
}

class CountingProvider extends DependencyProvider<null> {
  getDependency(): null {
    return null;
  }
  override async stop(): Promise<void> {
    Stoppable.stops++;
    await sleep(10);
  }
}

class Stoppable {
  static name = 'stoppable';
  static stops = 0;
  counter = new CountingProvider();
  @rpc
  ping() {
    return 'pong';
  }
}

function fixtures(options?: ServiceFixtureOptions) {
  let teardown: (() => Promise<void>) | undefined;
  const fx = serviceFixtures((fn) => {
    teardown = fn;
  }, options);
  return { fx, teardown: () => teardown!() };
}

describe('serviceFixtures', () => {
  it('registers exactly one afterEach hook', () => {
    const hooks: unknown[] = [];
    serviceFixtures((fn) => void hooks.push(fn));
    expect(hooks).toHaveLength(1);
  });

  it('closes clients and stops containers and runners at teardown', async () => {
    const { fx, teardown } = fixtures();
    const container = await fx.start(Sleeper);
    const runner = fx.runner(Other);
    await runner.start();
    const unstarted = fx.container(Other);
    const client = await fx.client();
    expect(await client.sleeper.nap(1)).toBe('rested');

    await teardown();
    expect(container.state).toBe('stopped');
    expect(runner.containers[0]!.state).toBe('stopped');
    expect(unstarted.state).toBe('stopped');
    expect(client.closed).toBe(true);
  });

  it("does not stop providers twice when the test's own stop() is still running at teardown", async () => {
    const { fx, teardown } = fixtures();
    const container = await fx.start(Stoppable);
    Stoppable.stops = 0;
    void container.stop();
    await teardown();
    expect(Stoppable.stops).toBe(1);
    expect(container.state).toBe('stopped');
  });

  it('lets a call in flight finish at teardown: clients go first, then a graceful stop', async () => {
    const { fx, teardown } = fixtures();
    const container = await fx.start(Sleeper);
    const client = await fx.client();
    const call = client.sleeper.nap(50);
    call.catch(() => undefined);
    await sleep(10);
    await teardown();
    expect(container.state).toBe('stopped');
    // The client was closed under the pending call, which fails rather than hangs.
    await expect(call).rejects.toMatchObject({ code: 'ENOKI_ERR_CLIENT_CLOSED' });
  });

  it('gives each test its own memory vhost and wipes it afterwards', async () => {
    const { fx, teardown } = fixtures();
    const first = fx.config.AMQP_URI;
    expect(first).toMatch(/^memory:\/\/enoki-test-/);
    expect(fx.config).toBe(fx.config);
    await fx.start(Other);
    const stale = fx.config;
    await teardown();

    expect(fx.config.AMQP_URI).not.toBe(first);
    // Nothing of the old test is left: not even the queue of the service it ran.
    const client = await ClusterRpcProxy.connect(stale);
    try {
      await expect(client.other.ping()).rejects.toBeInstanceOf(UnknownService);
    } finally {
      await client.close();
    }
    await teardown();
  });

  it('applies fixture config, then per-container config, over silent-logging defaults', async () => {
    const { fx, teardown } = fixtures({ config: { max_workers: 3, rpc_exchange: 'fixture-rpc' } });
    expect(fx.config.LOGGING.level).toBe('silent');
    expect(fx.config.max_workers).toBe(3);
    const container = fx.container(Other, { config: { max_workers: 5 } });
    expect(container.config.max_workers).toBe(5);
    expect(container.config.rpc_exchange).toBe('fixture-rpc');
    expect(container.config.AMQP_URI).toBe(fx.config.AMQP_URI);
    await teardown();
  });

  it('uses a given AMQP_URI as it is', async () => {
    const { fx, teardown } = fixtures({ config: { AMQP_URI: 'memory://shared-by-choice' } });
    expect(fx.config.AMQP_URI).toBe('memory://shared-by-choice');
    await teardown();
    expect(fx.config.AMQP_URI).toBe('memory://shared-by-choice');
  });

  it('gives clients a default timeout, so a test cannot wait forever on a call', async () => {
    const { fx, teardown } = fixtures({ clientTimeoutMs: 30 });
    await fx.start(Sleeper);
    const client = await fx.client();
    await expect(client.sleeper.nap(200)).rejects.toBeInstanceOf(RpcTimeout);
    const patient = await fx.client({ timeoutMs: 1000 });
    expect(await patient.sleeper.nap(50)).toBe('rested');
    await teardown();
  });

  it('kills what does not stop in time and fails the teardown saying so', async () => {
    const { fx, teardown } = fixtures({ stopTimeoutMs: 30, clientTimeoutMs: null });
    const container = await fx.start(Sleeper);
    const client = await fx.client();
    void client.sleeper.nap(500).catch(() => undefined);
    await sleep(10);
    await expect(teardown()).rejects.toThrow(
      'serviceFixtures teardown: service sleeper did not stop within 30 ms, so it was killed. A call was still running',
    );
    expect(container.state).toBe('killed');
    // The abandoned graceful stop finishes later; it must not undo the kill.
    await sleep(600);
    expect(container.state).toBe('killed');
  });

  it('collects every teardown failure', async () => {
    const { fx, teardown } = fixtures({ stopTimeoutMs: 20 });
    await fx.start(Sleeper);
    const runner = fx.runner(Other);
    await runner.start();
    const client = await fx.client({ timeoutMs: null });
    void client.sleeper.nap(300).catch(() => undefined);
    // A second container of the same service, busy as well.
    await fx.start(Sleeper);
    void client.sleeper.nap(300).catch(() => undefined);
    await sleep(20);
    const err = await teardown().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors).toHaveLength(2);
    expect(runner.containers[0]!.state).toBe('stopped');
  });
});
