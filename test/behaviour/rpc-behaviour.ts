// The RPC behaviour suite: one list of tests that runs on every transport
// (test/behaviour-memory.test.ts, test/behaviour-amqp.test.ts), so memory:// cannot drift
// from RabbitMQ. A behaviour belongs here when a user could observe it through the public
// API; transport internals are tested in their own files.
//
// Every test makes its own pair of services with fresh names, so tests cannot see each
// other's queues, and the AMQP run can share a broker with other test files.

import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  DependencyProvider,
  dependency,
  EnokiError,
  IncorrectSignature,
  MethodNotFound,
  RemoteError,
  rpc,
  RpcProxy,
  RpcTimeout,
  UnknownService,
  type WorkerContext,
} from 'enoki';
import { entrypointWaiter, serviceFixtures } from 'enoki/testing';
import { eventually, sleep, within } from '../helpers/eventually.js';
import { captureLogs } from '../helpers/log-capture.js';

export interface BehaviourTarget {
  /** Shown in the describe() title. */
  name: string;
  /** Config for every container and client (AMQP_URI, rpc_exchange); {} = a memory vhost per test. */
  config: Record<string, unknown>;
  /** After the suite, with the name of every service it declared: remove their queues. */
  cleanup?: (serviceNames: string[]) => Promise<void>;
}

/** Injects the call's own WorkerContext, so a method can report what it was given. */
class WorkerContextProvider extends DependencyProvider<WorkerContext> {
  getDependency(ctx: WorkerContext): WorkerContext {
    return ctx;
  }
}
const CallContext = dependency(WorkerContextProvider);

/** One id per container (providers are made once per container), to tell containers apart. */
class ContainerIdProvider extends DependencyProvider<string> {
  readonly id = randomBytes(4).toString('hex');
  getDependency(): string {
    return this.id;
  }
}
const ContainerId = dependency(ContainerIdProvider);

class Boom extends Error {
  override name = 'Boom';
}

interface Concurrency {
  running: number;
  maxRunning: number;
}

function makeServices(prefix: string) {
  const greetingName = `${prefix}_greeting`;
  const concurrency: Concurrency = { running: 0, maxRunning: 0 };

  class Greeting {
    static name = greetingName;
    ctx = new CallContext();
    containerId = new ContainerId();

    @rpc
    hello(name: string, punctuation = '!') {
      return `Hello, ${name}${punctuation}`;
    }

    @rpc
    whoami() {
      return { callId: this.ctx.callId, stack: this.ctx.callIdStack, contextData: this.ctx.contextData, container: this.containerId };
    }

    @rpc
    fail(message: string) {
      throw new Boom(message);
    }

    @rpc
    async slow(ms: number, label = 'slow') {
      concurrency.running++;
      concurrency.maxRunning = Math.max(concurrency.maxRunning, concurrency.running);
      try {
        await sleep(ms);
        return label;
      } finally {
        concurrency.running--;
      }
    }
  }

  class Relay {
    static name = `${prefix}_relay`;
    ctx = new CallContext();
    greeting = new RpcProxy<Greeting>(greetingName);

    @rpc
    async relay() {
      const inner = await this.greeting.whoami();
      return { outer: { callId: this.ctx.callId, stack: this.ctx.callIdStack, contextData: this.ctx.contextData }, inner };
    }
  }

  return { Greeting, Relay, concurrency };
}

type Services = ReturnType<typeof makeServices>;
type GreetingProxy = import('enoki').ServiceProxy<InstanceType<Services['Greeting']>>;

export function rpcBehaviour(target: BehaviourTarget): void {
  describe(`RPC behaviour on ${target.name}`, () => {
    const fx = serviceFixtures(afterEach, { config: target.config });
    const run = randomBytes(3).toString('hex');
    const declared: string[] = [];
    let seq = 0;

    afterAll(async () => {
      await target.cleanup?.(declared);
    });

    /** Fresh services for one test. */
    function services(): Services {
      const made = makeServices(`bh${run}_${++seq}`);
      declared.push(made.Greeting.name, made.Relay.name);
      return made;
    }

    async function greetingClient(s: Services, options: Parameters<typeof fx.client>[0] = {}) {
      const client = await fx.client(options);
      return { client, greeting: client.service<InstanceType<Services['Greeting']>>(s.Greeting.name) as GreetingProxy };
    }

    it('replies to a call', async () => {
      const s = services();
      await fx.start(s.Greeting);
      const { greeting } = await greetingClient(s);
      expect(await greeting.hello('world')).toBe('Hello, world!');
    });

    it('binds keyword arguments to parameter names, alone or after positional ones', async () => {
      const s = services();
      await fx.start(s.Greeting);
      const { greeting } = await greetingClient(s);
      expect(await greeting.hello.call([], { name: 'kw', punctuation: '?' })).toBe('Hello, kw?');
      expect(await greeting.hello.call(['pos'], { punctuation: '...' })).toBe('Hello, pos...');
    });

    it('passes context data and a growing call id stack through a nested RpcProxy call', async () => {
      const s = services();
      await fx.start(s.Greeting);
      await fx.start(s.Relay);
      const client = await fx.client({ contextData: { user_id: 'u-1', language: 'fr' } });
      const { outer, inner } = (await client.service(s.Relay.name).relay()) as Awaited<ReturnType<InstanceType<Services['Relay']>['relay']>>;

      expect(outer.stack).toHaveLength(2);
      expect(outer.stack[0]).toMatch(/^standalone_rpc_proxy\.call\./);
      expect(outer.stack[1]).toBe(outer.callId);
      expect(outer.callId).toMatch(new RegExp(`^${s.Relay.name}\\.relay\\.`));
      // One more entry per hop, the caller's stack kept in front.
      expect(inner.stack).toEqual([...outer.stack, inner.callId]);
      expect(inner.callId).toMatch(new RegExp(`^${s.Greeting.name}\\.whoami\\.`));
      expect(outer.contextData).toMatchObject({ user_id: 'u-1', language: 'fr' });
      expect(inner.contextData).toMatchObject({ user_id: 'u-1', language: 'fr' });
    });

    it('gives the remote error type and message as a RemoteError', async () => {
      const s = services();
      await fx.start(s.Greeting);
      const { greeting } = await greetingClient(s);
      const err = await greeting.fail('bad input').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect(err).toMatchObject({ code: 'ENOKI_ERR_REMOTE', excType: 'Boom', value: 'bad input', excArgs: ['bad input'] });
    });

    it('answers a method the service does not have with MethodNotFound', async () => {
      const s = services();
      await fx.start(s.Greeting);
      const client = await fx.client();
      const err = await client.service(s.Greeting.name).nope().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MethodNotFound);
      expect(err).toMatchObject({ code: 'ENOKI_ERR_METHOD_NOT_FOUND', message: 'nope' });
    });

    it('answers arguments that do not fit with IncorrectSignature, in nameko wording', async () => {
      const s = services();
      await fx.start(s.Greeting);
      const client = await fx.client();
      const proxy = client.service(s.Greeting.name);
      await expect(proxy.hello()).rejects.toThrow(new IncorrectSignature("hello() missing 1 required positional argument: 'name'"));
      await expect(proxy.hello('a', 'b', 'c')).rejects.toThrow(
        new IncorrectSignature('hello() takes from 2 to 3 positional arguments but 4 were given'),
      );
      await expect(proxy.hello.call(['a'], { nickname: 'b' })).rejects.toThrow(
        new IncorrectSignature("hello() got an unexpected keyword argument 'nickname'"),
      );
      // The consumer survives every one of them.
      expect(await proxy.hello('still here')).toBe('Hello, still here!');
    });

    it('fails a call to a service nobody runs with UnknownService, at once', async () => {
      const client = await fx.client({ timeoutMs: null });
      const name = `bh${run}_nobody`;
      const err = await within(client.service(name).hello('x'), 2000, 'a call to an unknown service').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnknownService);
      expect(err).toMatchObject({ code: 'ENOKI_ERR_UNKNOWN_SERVICE', serviceName: name });
    });

    it('spreads calls over competing containers of one service', async () => {
      const s = services();
      await fx.start(s.Greeting);
      await fx.start(s.Greeting);
      const { greeting } = await greetingClient(s);
      const servedBy = new Set<string>();
      for (let i = 0; i < 10; i++) servedBy.add((await greeting.whoami()).container);
      expect(servedBy.size).toBe(2);
    });

    it('runs at most max_workers calls of a container at once', async () => {
      const s = services();
      await fx.start(s.Greeting, { config: { max_workers: 2 } });
      const { greeting } = await greetingClient(s);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => greeting.slow(60, `call ${i}`)));
      expect(results).toEqual(Array.from({ length: 6 }, (_, i) => `call ${i}`));
      // Exactly 2: fewer would mean the calls did not overlap at all.
      expect(s.concurrency.maxRunning).toBe(2);
    });

    it('times a call out with RpcTimeout, and drops the reply that comes later', async () => {
      const s = services();
      const container = await fx.start(s.Greeting);
      const logs = captureLogs();
      const { client, greeting } = await greetingClient(s, { logger: logs.logger });
      const ran = entrypointWaiter(container, 'slow');

      const started = performance.now();
      const err = await greeting.slow.call([300, 'late'], {}, { timeoutMs: 50 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RpcTimeout);
      expect(err).toMatchObject({ code: 'ENOKI_ERR_RPC_TIMEOUT', timeoutMs: 50, retryable: true });
      expect(performance.now() - started).toBeLessThan(250);
      expect(client.inFlight).toBe(0);

      // The service still ran the call and replied; the client must throw that reply away.
      expect((await ran).result).toBe('late');
      await eventually(() => logs.has('dropped a reply'), 'the late reply to be dropped');
      expect(await greeting.slow(1, 'fresh')).toBe('fresh');
    });

    it('sends with callAsync and collects the replies later, in any order', async () => {
      const s = services();
      await fx.start(s.Greeting);
      const { greeting } = await greetingClient(s);
      const first = greeting.slow.callAsync(80, 'first');
      const second = greeting.hello.callAsync('second');
      const failing = greeting.fail.callAsync('async failure');
      expect(await second.result()).toBe('Hello, second!');
      expect(await first.result()).toBe('first');
      await expect(failing.result()).rejects.toMatchObject({ excType: 'Boom', value: 'async failure' });
    });

    it('fails calls on a closed client with ENOKI_ERR_CLIENT_CLOSED, pending ones included, and never hangs', async () => {
      const s = services();
      await fx.start(s.Greeting);
      // No timeout: a call that nobody fails would hang, and within() turns that into a failure.
      const { client, greeting } = await greetingClient(s, { timeoutMs: null });
      const view = client.withContext({ user_id: 'u' });

      const pending = greeting.slow(1000, 'never seen');
      await eventually(() => s.concurrency.running === 1, 'the slow call to start');
      // Sent in the same tick as close(): it must not slip past the closing client.
      const racing = greeting.hello('racing');
      // Both are awaited below, after close(); until then their rejection is expected.
      pending.catch(() => undefined);
      racing.catch(() => undefined);
      await client.close();

      for (const [what, call] of [
        ['a pending call', () => pending],
        ['a call racing close()', () => racing],
        ['a call after close()', () => greeting.hello('late')],
        ['a call through a withContext view', () => view.service(s.Greeting.name).hello('view')],
      ] as const) {
        await expect(within(call(), 500, what), what).rejects.toMatchObject({ code: 'ENOKI_ERR_CLIENT_CLOSED' });
      }
      const err = await greeting.hello('x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EnokiError);
      expect((err as EnokiError).retryable).toBe(false);
    });

    it('hands the caller context data to the worker context', async () => {
      const s = services();
      await fx.start(s.Greeting);
      const client = await fx.client({ contextData: { user_id: 'u-9', language: 'en-GB', tenant: 'acme' } });
      const view = client.withContext({ request_id: 'r-1', language: 'de' });
      const proxy = view.service<InstanceType<Services['Greeting']>>(s.Greeting.name) as GreetingProxy;
      const seen = await proxy.whoami();
      expect(seen.contextData).toEqual({ user_id: 'u-9', language: 'de', tenant: 'acme', request_id: 'r-1' });
      expect(seen.stack).toHaveLength(2);
      expect(seen.stack[1]).toBe(seen.callId);
    });

    it('finishes and answers the calls in flight when stopped gracefully', async () => {
      const s = services();
      const container = await fx.start(s.Greeting);
      const { greeting } = await greetingClient(s);
      const calls = [greeting.slow(200, 'a'), greeting.slow(200, 'b'), greeting.slow(200, 'c')];
      await eventually(() => s.concurrency.running === 3, 'three calls to be running');

      await container.stop();
      expect(container.state).toBe('stopped');
      // stop() returned only after every call had finished.
      expect(s.concurrency.running).toBe(0);
      expect(await Promise.all(calls)).toEqual(['a', 'b', 'c']);
    });
  });
}
