import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { DependencyProvider, dependency, MethodNotFound, rpc, RpcProxy, UnknownService, type ServiceProxy } from 'enoki';
import { entrypointHook, replaceDependencies, restrictEntrypoints, serviceFixtures, type RecordingFunction } from 'enoki/testing';
import { ScoringService } from './helpers/cpu-service.js';

class Upstream {
  static name = 'upstream';
  @rpc
  lookup(key: string) {
    return `real ${key}`;
  }
}

class Clock extends DependencyProvider<{ now(): number }> {
  static lifecycle: string[] = [];
  override setup(): void {
    Clock.lifecycle.push('setup');
  }
  override workerSetup(): void {
    Clock.lifecycle.push('workerSetup');
  }
  getDependency() {
    return { now: () => 1_000 };
  }
}
const ClockDependency = dependency(Clock);

class Frontend {
  static name = 'frontend';
  upstream = new RpcProxy<Upstream>('upstream');
  clock = new ClockDependency();

  @rpc
  async fetch(key: string) {
    return `${await this.upstream.lookup(key)} at ${this.clock.now()}`;
  }

  @rpc
  ping() {
    return 'pong';
  }
}

const services = serviceFixtures(afterEach);

describe('replaceDependencies', () => {
  it('swaps a provider for a fake before start, so no other service has to run', async () => {
    const container = services.container(Frontend);
    const { upstream } = replaceDependencies(container, 'upstream');
    (upstream.lookup as unknown as RecordingFunction).impl = async (key: string) => `fake ${key}`;
    await container.start();
    expect(await entrypointHook(container, 'fetch')('k')).toBe('fake k at 1000');
    expect((upstream.lookup as unknown as RecordingFunction).calls).toEqual([['k']]);
  });

  it('takes a list of names, and makes vitest spies with mockFn', async () => {
    Clock.lifecycle = [];
    const container = services.container(Frontend);
    const fakes = replaceDependencies(container, ['upstream', 'clock'], { mockFn: vi.fn });
    expectTypeOf(fakes.upstream).toEqualTypeOf<ServiceProxy<Upstream>>();
    vi.mocked(fakes.upstream.lookup).mockResolvedValue('spied');
    vi.mocked(fakes.clock.now).mockReturnValue(7);
    await container.start();
    const client = await services.client();
    expect(await client.frontend.fetch('q')).toBe('spied at 7');
    expect(fakes.upstream.lookup).toHaveBeenCalledWith('q');
    // The replaced provider is gone: none of its hooks ran.
    expect(Clock.lifecycle).toEqual([]);
  });

  it('uses the values of an object as they are and returns it', async () => {
    const container = services.container(Frontend);
    const replacements = { upstream: { lookup: async (key: string) => `given ${key}` } };
    expect(replaceDependencies(container, replacements)).toBe(replacements);
    await container.start();
    expect(await entrypointHook(container, 'fetch')('z')).toBe('given z at 1000');
  });

  it('changes only the container it is given', async () => {
    await services.start(Upstream);
    const replaced = services.container(Frontend);
    replaceDependencies(replaced, { upstream: { lookup: async () => 'fake' } });
    await replaced.start();
    const untouched = await services.start(Frontend);
    expect(await entrypointHook(replaced, 'fetch')('a')).toBe('fake at 1000');
    expect(await entrypointHook(untouched, 'fetch')('a')).toBe('real a at 1000');
  });

  it('records calls a @cpuBound method makes from its pool thread', async () => {
    const container = services.container(ScoringService);
    const { store } = replaceDependencies(container, 'store', { mockFn: vi.fn });
    vi.mocked(store.save).mockResolvedValue('faked');
    await container.start();
    expect(await entrypointHook(container, 'score')([1, 2, 3])).toBe('faked');
    expect(store.save).toHaveBeenCalledWith(6);
  });

  it('refuses to run on a started container', async () => {
    const container = await services.start(Frontend);
    expect(() => replaceDependencies(container, 'clock')).toThrow(
      expect.objectContaining({ code: 'ENOKI_ERR_CONTAINER_STATE', message: 'service frontend is running; replaceDependencies must be called before container.start()' }),
    );
  });

  it('refuses names that are not dependencies, naming those that are', () => {
    const container = services.container(Frontend);
    // @ts-expect-error: not a field of Frontend
    expect(() => replaceDependencies(container, 'upstrem')).toThrow(
      'replaceDependencies(frontend): upstrem is not a dependency of the service; its dependencies: upstream, clock',
    );
    expect(() => replaceDependencies(container, { ping: {} })).toThrow(/ping is not a dependency/);
    expect(() => replaceDependencies(container, { ping: {} })).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_TESTING_USAGE' }));
    // @ts-expect-error: neither a name, a list nor an object
    expect(() => replaceDependencies(container, 42)).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_TESTING_USAGE' }));
  });
});

describe('restrictEntrypoints', () => {
  it('serves only the named entrypoints; a call to another gets MethodNotFound', async () => {
    await services.start(Upstream);
    const container = services.container(Frontend);
    restrictEntrypoints(container, 'ping');
    await container.start();
    const client = await services.client();
    expect(await client.frontend.ping()).toBe('pong');
    await expect(client.frontend.fetch('x')).rejects.toBeInstanceOf(MethodNotFound);
    expect(() => entrypointHook(container, 'fetch')).toThrow('its entrypoints are ping');
  });

  it('leaves other containers of the class alone', async () => {
    await services.start(Upstream);
    const restricted = services.container(Frontend);
    restrictEntrypoints(restricted, 'ping');
    const full = services.container(Frontend);
    expect([...full.definition.methods.keys()]).toEqual(['fetch', 'ping']);
    await full.start();
    expect(await entrypointHook(full, 'fetch')('x')).toBe('real x at 1000');
  });

  it('with no names leaves nothing to call', async () => {
    const container = services.container(Frontend);
    restrictEntrypoints(container);
    await container.start();
    const client = await services.client();
    await expect(client.frontend.ping()).rejects.toBeInstanceOf(UnknownService);
  });

  it('refuses unknown names and a started container', async () => {
    const container = services.container(Frontend);
    // @ts-expect-error: not a method of Frontend
    expect(() => restrictEntrypoints(container, 'pong')).toThrow(/restrictEntrypoints\(frontend, "pong"\): the service has no such entrypoint/);
    await container.start();
    expect(() => restrictEntrypoints(container, 'ping')).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_CONTAINER_STATE' }));
  });
});
