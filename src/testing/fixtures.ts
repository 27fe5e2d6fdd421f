// serviceFixtures: containers, runners and clients that are always stopped after each
// test, as nameko's pytest fixtures (container_factory, runner_factory, rpc_proxy).
//
// The test framework's `afterEach` is a parameter rather than an import: enoki/testing
// must not load vitest (a devDependency, and the user may run jest or node:test, whose
// afterEach has the same shape). A dynamic `import('vitest')` is no answer either: hooks
// must be registered synchronously while the test file is being collected.
//
// By default each test gets its own memory:// vhost, so tests never see each other's
// queues and no broker is needed; pass `config: { AMQP_URI: 'amqp://...' }` for RabbitMQ.

import { randomUUID } from 'node:crypto';
import { loadConfig, type EnokiConfig } from '../config.js';
import { eventDispatcher, type StandaloneEventDispatcher } from '../events/standalone-dispatcher.js';
import { ClusterRpcProxy, type ClientOptions, type ClusterClient } from '../rpc/cluster-rpc-proxy.js';
import { ServiceContainer, type ContainerOptions } from '../service-container.js';
import type { ServiceClass } from '../service-definition.js';
import { ServiceRunner } from '../service-runner.js';
import { resetMemoryBroker } from '../transport/memory-transport.js';

/** vitest's, jest's or node:test's `afterEach`. */
export type AfterEachHook = (fn: () => Promise<void>) => unknown;

/** Options of {@link serviceFixtures}, for everything it makes. */
export interface ServiceFixtureOptions {
  /**
   * Config in config.yaml spelling for everything the fixtures make. Defaults on top of
   * enoki's: AMQP_URI a fresh `memory://` vhost per test, LOGGING 'silent' (set
   * `LOGGING: 'debug'` to see the services' logs).
   */
  config?: Record<string, unknown>;
  /** How long a graceful stop may take at teardown before the container is killed (default 5000 ms). */
  stopTimeoutMs?: number;
  /** Default per-call timeout of clients from client(), when the config sets no RPC_TIMEOUT (default 5000 ms; null: none). */
  clientTimeoutMs?: number | null;
}

/** Options of {@link ServiceFixtures.container} and {@link ServiceFixtures.start}: a container's options, plus config of its own. */
export interface ContainerFixtureOptions extends ContainerOptions {
  /** Config keys for this container only, over the fixture's. */
  config?: Record<string, unknown>;
}

/**
 * What {@link serviceFixtures} returns: makers of containers, runners and clients on the
 * current test's broker, each cleaned up after that test.
 */
export interface ServiceFixtures {
  /** The config of the current test (its memory:// vhost, unless AMQP_URI was given). */
  readonly config: EnokiConfig;
  /** A container, not started (so replaceDependencies and restrictEntrypoints can go first). */
  container<S>(cls: ServiceClass<S>, options?: ContainerFixtureOptions): ServiceContainer<S>;
  /** A started container. */
  start<S>(cls: ServiceClass<S>, options?: ContainerFixtureOptions): Promise<ServiceContainer<S>>;
  /** A runner with these services added, not started. */
  runner(...classes: ServiceClass[]): ServiceRunner;
  /** A connected client on the test's broker; closed first at teardown, so no call can hang it. */
  client<M = Record<string, unknown>>(options?: ClientOptions): Promise<ClusterClient<M>>;
  /**
   * A standalone event dispatcher on the test's broker, closed at teardown: dispatch an
   * event into the services under test as another service would.
   *
   *     const handled = entrypointWaiter(container, 'onPlaced');
   *     await (await services.dispatcher())('shop', 'order_placed', { id: 1 });
   *     expect((await handled).ctx.args).toEqual([{ id: 1 }]);
   */
  dispatcher(): Promise<StandaloneEventDispatcher>;
}

interface Stoppable {
  readonly label: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

const MEMORY = 'memory://';

/**
 *     import { afterEach } from 'vitest';
 *     const services = serviceFixtures(afterEach);
 *
 *     it('greets', async () => {
 *       await services.start(GreetingService);
 *       const client = await services.client();
 *       expect(await client.greeting_service.hello('Matt')).toBe('Hello, Matt!');
 *     });
 *
 * Call it at the top of a test file or inside a describe(); what a test makes through it
 * is cleaned up after that test: clients and dispatchers are closed, then containers and runners are
 * stopped in parallel (killed past stopTimeoutMs), then the test's memory vhost is wiped.
 * A teardown failure fails the test with every error collected.
 */
export function serviceFixtures(afterEach: AfterEachHook, options: ServiceFixtureOptions = {}): ServiceFixtures {
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  const clientTimeoutMs = options.clientTimeoutMs === undefined ? 5000 : options.clientTimeoutMs;
  const base: Record<string, unknown> = { LOGGING: 'silent', ...options.config };
  const ownVhosts = base['AMQP_URI'] === undefined;

  let vhost: string | null = null;
  let current: EnokiConfig | null = null;
  let clients: Array<{ close(): Promise<void> }> = [];
  let services: Stoppable[] = [];

  const rawConfig = (extra: Record<string, unknown> = {}): Record<string, unknown> => {
    if (ownVhosts) vhost ??= `enoki-test-${randomUUID()}`;
    return { ...(ownVhosts ? { AMQP_URI: `${MEMORY}${vhost}` } : {}), ...base, ...extra };
  };

  const resolve = (extra?: Record<string, unknown>): EnokiConfig => {
    if (extra === undefined) return (current ??= loadConfig(rawConfig()));
    return loadConfig(rawConfig(extra));
  };

  afterEach(async () => {
    const errors: unknown[] = [];
    const closing = clients;
    const stopping = services;
    clients = [];
    services = [];
    for (const result of await Promise.allSettled(closing.map((c) => c.close()))) {
      if (result.status === 'rejected') errors.push(result.reason);
    }
    for (const result of await Promise.allSettled(stopping.map((s) => stopOrKill(s, stopTimeoutMs)))) {
      if (result.status === 'rejected') errors.push(result.reason);
    }
    if (vhost !== null) resetMemoryBroker(vhost);
    vhost = null;
    current = null;
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `serviceFixtures teardown: ${errors.length} failures`);
  });

  const container = <S>(cls: ServiceClass<S>, { config, ...containerOptions }: ContainerFixtureOptions = {}): ServiceContainer<S> => {
    const made = new ServiceContainer(cls, resolve(config), containerOptions);
    services.push({ label: `service ${made.serviceName}`, stop: () => made.stop(), kill: () => made.kill() });
    return made;
  };

  return {
    get config() {
      return resolve();
    },
    container,
    async start(cls, options) {
      const made = container(cls, options);
      await made.start();
      return made;
    },
    runner(...classes) {
      const runner = new ServiceRunner(resolve());
      for (const cls of classes) runner.add(cls);
      const names = runner.containers.map((c) => c.serviceName).join(', ');
      services.push({ label: `runner of ${names || 'no services'}`, stop: () => runner.stop(), kill: () => runner.kill() });
      return runner;
    },
    async client<M>(clientOptions: ClientOptions = {}) {
      const config = resolve();
      const timeoutMs = clientOptions.timeoutMs !== undefined || config.RPC_TIMEOUT !== null ? clientOptions.timeoutMs : clientTimeoutMs;
      const client = await ClusterRpcProxy.connect<M>(config, { ...clientOptions, timeoutMs });
      clients.push(client);
      return client;
    },
    async dispatcher() {
      const dispatch = await eventDispatcher(resolve());
      clients.push(dispatch);
      return dispatch;
    },
  };
}

async function stopOrKill(target: Stoppable, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    if ((await Promise.race([target.stop().then(() => 'stopped' as const), timedOut])) === 'stopped') return;
  } finally {
    clearTimeout(timer);
  }
  await target.kill();
  throw new Error(
    `serviceFixtures teardown: ${target.label} did not stop within ${timeoutMs} ms, so it was killed. ` +
      'A call was still running: await every call the test starts, or raise stopTimeoutMs.',
  );
}
