// The example services, tested the way docs/TESTING.md tells users to: unit tests with
// workerFactory, then the real worker path with entrypointHook on memory://. No broker.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { RemoteError } from 'enoki';
import { entrypointHook, entrypointWaiter, replaceDependencies, serviceFixtures, workerFactory } from 'enoki/testing';
import { AppError, GreetingService, InvalidName } from '../services/service1/service1.js';
import { Service2 } from '../services/service2/service2.js';
import { Warehouse } from '../services/shop/shop.js';

describe('GreetingService, unit', () => {
  it('greets', () => {
    const worker = workerFactory(GreetingService);
    expect(worker.hello('Matt')).toBe('Hello, Matt!');
    expect(worker.greet('Ann', '?', 2)).toEqual(['Hello, Ann?', 'Hello, Ann?']);
  });

  it('refuses an empty name with the expected InvalidName', () => {
    const worker = workerFactory(GreetingService);
    expect(() => worker.hello('')).toThrow(InvalidName);
  });
});

describe('Service2, unit', () => {
  it('asks greeting_service and returns its answer', async () => {
    const worker = workerFactory(Service2, {}, { mockFn: vi.fn });
    vi.mocked(worker.other_rpc.hello).mockResolvedValue('Hello from a fake!');
    expect(await worker.hello_service2('Matt')).toBe('Hello from a fake!');
    expect(worker.other_rpc.hello).toHaveBeenCalledWith('Matt');
  });

  it('passes on the remote error', async () => {
    const worker = workerFactory(Service2, { other_rpc: { hello: vi.fn().mockRejectedValue(new RemoteError('InvalidName', 'name must be a non-empty string')) } });
    await expect(worker.hello_service2('')).rejects.toMatchObject({ excType: 'InvalidName' });
  });
});

describe('the example services in containers, on memory://', () => {
  const services = serviceFixtures(afterEach);

  it('answers through the worker path, dependencies and all', async () => {
    const container = await services.start(GreetingService);
    expect(await entrypointHook(container, 'hello')('Matt')).toBe('Hello, Matt!');
    expect(await entrypointHook(container, 'greet').call(['Bo'], { times: 2 })).toEqual(['Hello, Bo!', 'Hello, Bo!']);
    await expect(entrypointHook(container, 'raise_exception')()).rejects.toThrow('boom');
    await expect(entrypointHook(container, 'raise_app_error')()).rejects.toBeInstanceOf(AppError);
  });

  it('runs the @cpuBound method in the worker pool', async () => {
    const container = await services.start(GreetingService);
    expect(await entrypointHook(container, 'computation_bound_pool')(0.01)).toBe('done');
  });

  it('tests Service2 alone, with greeting_service replaced', async () => {
    const container = services.container(Service2);
    const { other_rpc } = replaceDependencies(container, 'other_rpc', { mockFn: vi.fn });
    vi.mocked(other_rpc.hello).mockResolvedValue('Hello, replaced!');
    await container.start();
    expect(await entrypointHook(container, 'hello_service2')('Matt')).toBe('Hello, replaced!');
    expect(other_rpc.hello).toHaveBeenCalledWith('Matt');
  });

  it('calls across both services, and greeting_service sees service2 as the caller', async () => {
    const runner = services.runner(GreetingService, Service2);
    await runner.start();
    const greeting = runner.containers.find((c) => c.serviceName === 'greeting_service')!;
    const client = await services.client();

    const ran = entrypointWaiter(greeting, 'hello');
    expect(await client.service2.hello_service2('Matt')).toBe('Hello, Matt!');
    const { ctx } = await ran;
    expect(ctx.immediateParentCallId).toMatch(/^service2\.hello_service2\./);
    expect(ctx.callIdStack).toHaveLength(3);
  });
});

describe('an event handler and a timer, as docs/TESTING.md shows', () => {
  const services = serviceFixtures(afterEach);

  it('dispatches into the handler, calls it directly, and waits for a tick', async () => {
    const warehouse = await services.start(Warehouse);
    const reserved = entrypointWaiter(warehouse, 'reserve');
    const dispatch = await services.dispatcher();
    await dispatch('shop', 'order_placed', { id: 1, item: 'teapot' });
    expect((await reserved).ctx.args).toEqual([{ id: 1, item: 'teapot' }]);

    await entrypointHook(warehouse, 'reserve')({ id: 2, item: 'cup' }); // no broker round trip
    await entrypointWaiter(warehouse, 'sweep'); // the next timer tick
    const { reserved: items, sweeps } = await entrypointHook(warehouse, 'status')();
    expect(items.slice(-2)).toEqual(['teapot', 'cup']);
    expect(sweeps).toBeGreaterThanOrEqual(1);
  });
});
