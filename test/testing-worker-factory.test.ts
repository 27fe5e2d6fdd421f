import { describe, expect, it, vi } from 'vitest';
import { DependencyProvider, dependency, rpc, RpcProxy } from 'enoki';
import { recorder, workerFactory, type RecordingFunction } from 'enoki/testing';

class Database {
  async get(_key: string): Promise<string | undefined> {
    throw new Error('a real database is never reached from workerFactory');
  }
}

class DatabaseProvider extends DependencyProvider<Database> {
  static made = 0;
  override setup(): void {
    throw new Error('workerFactory must not run provider lifecycle hooks');
  }
  getDependency(): Database {
    DatabaseProvider.made++;
    return new Database();
  }
}
const DatabaseDependency = dependency(DatabaseProvider);

class Greeter {
  hello(name: string): string {
    return `Hello, ${name}!`;
  }
}

class OrderService {
  static name = 'orders';
  db = new DatabaseDependency();
  greeter = new RpcProxy<Greeter>('greeter');
  greeting = 'plain field';

  @rpc
  async describe(key: string) {
    const value = await this.db.get(key);
    return `${key}=${value}`;
  }

  @rpc
  async welcome(name: string) {
    return this.greeter.hello(name);
  }

  @rpc
  async welcomeLater(name: string) {
    const reply = this.greeter.hello.callAsync(name);
    return reply.result();
  }

  @rpc
  async welcomeByKeyword(name: string) {
    return this.greeter.hello.call([], { name });
  }

  @rpc
  async holdDatabase() {
    // Returning the dependency from an async method awaits it: a fake must not be thenable.
    return this.db;
  }
}

describe('workerFactory', () => {
  it('fills every dependency with a fake whose methods record calls and resolve undefined', async () => {
    const worker = workerFactory(OrderService);
    expect(await worker.describe('k1')).toBe('k1=undefined');
    const get = worker.db.get as unknown as RecordingFunction;
    expect(get.calls).toEqual([['k1']]);
    expect(DatabaseProvider.made).toBe(0);
    expect(worker.greeting).toBe('plain field');
  });

  it('keeps one fake member per name, and lets a test set what it does', async () => {
    const worker = workerFactory(OrderService);
    const get = worker.db.get as unknown as RecordingFunction;
    expect(worker.db.get).toBe(get);
    get.impl = async (key: string) => `value of ${key}`;
    expect(await worker.describe('k2')).toBe('k2=value of k2');
  });

  it('uses the given overrides as they are', async () => {
    const db = { get: vi.fn(async (key: string) => key.toUpperCase()) };
    const worker = workerFactory(OrderService, { db });
    expect(worker.db).toBe(db);
    expect(await worker.describe('abc')).toBe('abc=ABC');
    expect(db.get).toHaveBeenCalledWith('abc');
  });

  it('makes vitest spies with mockFn, so vitest matchers work on every fake member', async () => {
    const worker = workerFactory(OrderService, {}, { mockFn: vi.fn });
    vi.mocked(worker.greeter.hello).mockResolvedValue('stubbed');
    expect(await worker.welcome('Ann')).toBe('stubbed');
    expect(worker.greeter.hello).toHaveBeenCalledWith('Ann');
    expect(vi.mocked(worker.greeter.hello).getMockName()).toBe('greeter.hello');
  });

  it('records an RpcProxy callAsync on the method itself, and kwargs calls on `.call`', async () => {
    const worker = workerFactory(OrderService, {}, { mockFn: vi.fn });
    vi.mocked(worker.greeter.hello).mockResolvedValue('later');
    expect(await worker.welcomeLater('Bo')).toBe('later');
    expect(worker.greeter.hello).toHaveBeenCalledWith('Bo');

    vi.mocked(worker.greeter.hello.call).mockResolvedValue('by keyword');
    expect(await worker.welcomeByKeyword('Cy')).toBe('by keyword');
    expect(worker.greeter.hello.call).toHaveBeenCalledWith([], { name: 'Cy' });
  });

  it('passes a fake RpcProxy method failure to callAsync().result(), not to an unhandled rejection', async () => {
    const worker = workerFactory(OrderService, {}, { mockFn: vi.fn });
    vi.mocked(worker.greeter.hello).mockRejectedValue(new Error('remote down'));
    await expect(worker.welcomeLater('Di')).rejects.toThrow('remote down');
  });

  it('makes fakes that are not thenable, so they can be awaited and returned', async () => {
    const worker = workerFactory(OrderService);
    expect(await worker.holdDatabase()).toBe(worker.db);
    expect((worker.db as unknown as Record<string, unknown>).then).toBeUndefined();
    expect(String(worker.db)).toBe('[object Fake db]');
  });

  it('refuses an override for a field that is not a dependency, naming the ones that are', () => {
    expect(() => workerFactory(OrderService, { dbb: {} } as never)).toThrow(
      'workerFactory(orders): dbb is not a dependency of the service; its dependencies: db, greeter',
    );
    expect(() => workerFactory(OrderService, { greeting: 'x' })).toThrow(/greeting is not a dependency/);
    expect(() => workerFactory(OrderService, { greeting: 'x' })).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_TESTING_USAGE', retryable: false }));
  });

  it('fails clearly when mockFn does not make a function', () => {
    expect(() => workerFactory(OrderService, {}, { mockFn: () => ({}) as never }).db.get).toThrow(
      'mockFn: must return a function; for db.get it returned object',
    );
    expect(() => workerFactory(OrderService, {}, { mockFn: () => ({}) as never }).db.get).toThrow(expect.objectContaining({ code: 'ENOKI_ERR_TESTING_USAGE' }));
  });
});

describe('recorder', () => {
  it('records arguments and runs its implementation asynchronously', async () => {
    const fn = recorder(async (a: number, b: number) => a + b);
    const pending = fn(1, 2);
    expect(fn.calls).toEqual([[1, 2]]);
    expect(await pending).toBe(3);
  });

  it('turns a throwing implementation into a rejection', async () => {
    const fn = recorder(() => {
      throw new Error('nope');
    });
    await expect(fn()).rejects.toThrow('nope');
  });
});
