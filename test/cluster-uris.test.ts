// AMQP_URI as a list of a cluster's nodes, AMQP_URI_ORDER and QUEUE_TYPE: how the config
// reads them (file, environment), the order connection attempts go in, and what the
// broker ends up holding. The real-broker parts use the main RabbitMQ (127.0.0.1:5672) in
// a vhost of their own: a quorum queue works on a single node too. Losing a node of a
// real cluster is test/faults/cluster-node-loss.test.ts.

import { execFileSync } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { ClusterRpcProxy, eventHandler, loadConfig, rpc, ServiceRunner, type EnokiError } from 'enoki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, showConfig } from '../src/config.js';
import { BrokerRotation, connectFields } from '../src/transport/broker-rotation.js';
import { canBeQuorum, withQueueType } from '../src/transport/queue-type.js';
import { LogTap } from './faults/harness.js';
import { BROKER, createVhost, type TestVhost } from './support/vhost.js';

const A = 'amqp://u:pw-a@a:5672/v';
const B = 'amqp://u:pw-b@b:5672/v';
const C = 'amqp://u:pw-c@c:5672/v';

function configError(fn: () => unknown): EnokiError {
  try {
    fn();
  } catch (err) {
    return err as EnokiError;
  }
  throw new Error('expected an error');
}

describe('AMQP_URI: one URI or a list', () => {
  it('a single URI stays a string (the default too)', () => {
    expect(loadConfig({ AMQP_URI: A }).AMQP_URI).toBe(A);
    expect(DEFAULT_CONFIG.AMQP_URI).toBe('amqp://guest:guest@localhost:5672/');
    expect(loadConfig({ AMQP_URI: [A] }).AMQP_URI).toBe(A);
  });

  it('a YAML list, and a comma-separated string, load as the list; pyamqp:// is normalised in each', () => {
    expect(loadConfig({ AMQP_URI: [A, B, 'pyamqp://c/'] }).AMQP_URI).toEqual([A, B, 'amqp://c/']);
    expect(loadConfig({ AMQP_URI: `${A},${B} , ${C}` }).AMQP_URI).toEqual([A, B, C]);
  });

  it('the environment variable AMQP_URI takes a comma-separated list, or a YAML flow list', () => {
    expect(loadConfig(undefined, { env: { AMQP_URI: `${A},${B}` } }).AMQP_URI).toEqual([A, B]);
    expect(loadConfig(undefined, { env: { AMQP_URI: `[${A}, ${B}]` } }).AMQP_URI).toEqual([A, B]);
  });

  it('a comma inside a password does not split the URI (only a comma before the next scheme does)', () => {
    expect(loadConfig({ AMQP_URI: 'amqp://u:a,b@h/' }).AMQP_URI).toBe('amqp://u:a,b@h/');
    expect(loadConfig({ AMQP_URI: 'amqp://u:a,b@h/,amqp://u:a,b@g/' }).AMQP_URI).toEqual(['amqp://u:a,b@h/', 'amqp://u:a,b@g/']);
  });

  it('refuses memory:// in a list, a bad item (naming its index, password masked), and an empty list', () => {
    expect(configError(() => loadConfig({ AMQP_URI: ['memory://x', A] })).message).toContain('a single memory:// URI');
    const bad = configError(() => loadConfig({ AMQP_URI: [A, 'http://u:pw-b@b/'] }));
    expect(bad.code).toBe('ENOKI_ERR_CONFIG_INVALID');
    expect(bad.message).toContain('AMQP_URI.1');
    expect(bad.message).not.toContain('pw-b');
    expect(configError(() => loadConfig({ AMQP_URI: [] })).message).toContain('a list of them');
  });

  it('show-config masks the password of every URI in the list', () => {
    const shown = showConfig(loadConfig({ AMQP_URI: [A, B, C] }), 'json');
    expect(JSON.parse(shown)['AMQP_URI']).toEqual(['amqp://u:***@a:5672/v', 'amqp://u:***@b:5672/v', 'amqp://u:***@c:5672/v']);
    for (const secret of ['pw-a', 'pw-b', 'pw-c']) expect(shown).not.toContain(secret);
  });

  it('AMQP_URI_ORDER (ordered | shuffled) and QUEUE_TYPE (classic | quorum): defaults, environment, wrong values', () => {
    expect(DEFAULT_CONFIG.AMQP_URI_ORDER).toBe('ordered');
    expect(DEFAULT_CONFIG.QUEUE_TYPE).toBe('classic');
    const fromEnv = loadConfig(undefined, { env: { AMQP_URI_ORDER: 'shuffled', QUEUE_TYPE: 'quorum' } });
    expect([fromEnv.AMQP_URI_ORDER, fromEnv.QUEUE_TYPE]).toEqual(['shuffled', 'quorum']);
    expect(configError(() => loadConfig({ AMQP_URI_ORDER: 'random' })).message).toContain('"ordered" or "shuffled"');
    expect(configError(() => loadConfig({ QUEUE_TYPE: 'stream' })).message).toContain('"classic" or "quorum"');
  });
});

describe('the order connection attempts go in', () => {
  const brokers = [A, B, C].map((url) => ({ url, displayUri: url }));
  const walk = (rotation: BrokerRotation, steps: number): number[] => {
    const seen: number[] = [];
    for (let i = 0; i < steps; i++) {
      seen.push(rotation.currentIndex);
      rotation.advance();
    }
    return seen;
  };

  it('ordered: down the list and round again; after a lost connection the next node first, the lost one last', () => {
    const rotation = new BrokerRotation(brokers, 'ordered');
    expect(walk(rotation, 7)).toEqual([0, 1, 2, 0, 1, 2, 0]);
    // Connected to index 1 now; it is lost: the next attempts go to 2, 0, then 1.
    expect(rotation.currentIndex).toBe(1);
    rotation.advance();
    expect(walk(rotation, 3)).toEqual([2, 0, 1]);
  });

  it('shuffled: every round tries each node once, in an order drawn per round, never the same node twice in a row', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const rotation = new BrokerRotation(brokers, 'shuffled', random);
    const rounds = Array.from({ length: 30 }, () => walk(rotation, 3));
    for (const round of rounds) expect([...round].sort()).toEqual([0, 1, 2]);
    expect(new Set(rounds.map((r) => r.join())).size).toBeGreaterThan(1);
    const flat = rounds.flat();
    for (let i = 1; i < flat.length; i++) expect(flat[i]).not.toBe(flat[i - 1]);
  });

  it('the next node of a round is tried almost at once; only a new round backs off, capped', () => {
    const rotation = new BrokerRotation(brokers, 'ordered', () => 0.5);
    const backoff = { initialDelay: 200, maxDelay: 5000, factor: 2, jitter: 0.3 };
    expect([1, 2, 4, 5, 7, 8].map((a) => rotation.delay(a, backoff))).toEqual([100, 100, 100, 100, 100, 100]);
    expect([3, 6, 9].map((a) => rotation.delay(a, backoff))).toEqual([200, 400, 800]);
    expect(rotation.delay(300, backoff)).toBeLessThanOrEqual(5000);
  });

  it('each URI becomes the connection fields amqplib reads per attempt, as its string form would', () => {
    expect(connectFields('amqps://us%40er:p%3Aw@h.example:5999/my%2Fvhost?heartbeat=5&frameMax=8192')).toEqual({
      protocol: 'amqps',
      hostname: 'h.example',
      port: 5999,
      username: 'us@er',
      password: 'p:w',
      locale: undefined,
      frameMax: 8192,
      maxFrameSize: undefined,
      heartbeat: 5,
      vhost: 'my%2Fvhost',
      channelMax: undefined,
    });
    expect(connectFields('amqp://[::1]/')).toMatchObject({ hostname: '::1', port: undefined, username: undefined, password: undefined, vhost: '' });
  });
});

describe('QUEUE_TYPE: which queues can be quorum', () => {
  it('durable, not exclusive, not auto-deleted only; classic adds nothing to the declaration', () => {
    const rpcQueue = { name: 'rpc-x', durable: true, autoDelete: false, exclusive: false };
    expect(withQueueType(rpcQueue, 'quorum').arguments).toEqual({ 'x-queue-type': 'quorum' });
    expect(withQueueType(rpcQueue, 'classic')).toBe(rpcQueue);
    const unreliable = { name: 'evt', durable: true, autoDelete: true, exclusive: false };
    const exclusive = { name: 'evt-b', durable: false, autoDelete: true, exclusive: true };
    expect([canBeQuorum(unreliable), canBeQuorum(exclusive)]).toEqual([false, false]);
    expect(withQueueType(unreliable, 'quorum')).toBe(unreliable);
  });
});

describe('on the real broker', () => {
  let vhost: TestVhost;
  let closedPort: number;
  const uriOn = (port: number | string): string => {
    const broker = new URL(BROKER);
    return `amqp://${broker.username}:${broker.password}@127.0.0.1:${port}/${encodeURIComponent(vhost.name)}`;
  };

  beforeAll(async () => {
    vhost = createVhost('cluster-uris');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closedPort = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
  });

  afterAll(() => vhost?.remove());

  it('QUEUE_TYPE quorum: the rpc queue and reliable event queues are quorum; non-reliable ones and reply queues stay classic', async () => {
    class Quorate {
      static name = 'quorate';
      @rpc ping(): string {
        return 'pong';
      }
      @eventHandler('shop', 'order_placed') reserve(_order: unknown) {}
      @eventHandler('shop', 'order_placed', { handlerType: 'singleton' }) audit(_order: unknown) {}
      @eventHandler('shop', 'order_placed', { handlerType: 'broadcast', reliableDelivery: false }) refresh(_order: unknown) {}
      @eventHandler('shop', 'order_shipped', { reliableDelivery: false }) track(_order: unknown) {}
    }
    const config = loadConfig({ AMQP_URI: uriOn(new URL(BROKER).port || 5672), QUEUE_TYPE: 'quorum', LOGGING: { level: 'silent' } });
    const runner = new ServiceRunner(config);
    runner.add(Quorate);
    await runner.start();
    const client = await ClusterRpcProxy.connect(config);
    try {
      expect(await client.quorate!.ping()).toBe('pong');
      const out = execFileSync('rabbitmqctl', ['list_queues', '-p', vhost.name, 'name', 'type', '--formatter', 'json', '--quiet'], { encoding: 'utf8' });
      const types = Object.fromEntries((JSON.parse(out) as Array<{ name: string; type: string }>).map((q) => [q.name.replace(/-[0-9a-f]{32}$/, '-<id>').replace(/-[0-9a-f-]{36}$/, '-<uuid>'), q.type]));
      expect(types).toMatchObject({
        'rpc-quorate': 'quorum',
        'evt-shop-order_placed--quorate.reserve': 'quorum',
        'evt-shop-order_placed': 'quorum',
        'evt-shop-order_placed--quorate.refresh-<id>': 'classic',
        'evt-shop-order_shipped--quorate.track': 'classic',
      });
      const reply = Object.entries(types).find(([name]) => name.startsWith('rpc.reply-'));
      expect(reply?.[1]).toBe('classic');
    } finally {
      await client.close();
      await runner.stop();
    }
  });

  it('a list whose first node refuses: the connection goes on to the next, and calls work', async () => {
    const tap = new LogTap('debug');
    const config = loadConfig({ AMQP_URI: [uriOn(closedPort), uriOn(new URL(BROKER).port || 5672)], LOGGING: { level: 'silent' } });
    class Echo {
      static name = 'echo_list';
      @rpc echo(x: string): string {
        return x;
      }
    }
    const runner = new ServiceRunner(config);
    runner.add(Echo);
    await runner.start();
    const client = await ClusterRpcProxy.connect(config, { logger: tap.logger });
    try {
      expect(await client.echo_list!.echo('hi')).toBe('hi');
      const failed = tap.matching('AMQP connection attempt failed');
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(failed[0]!['uri']).toContain(`:${closedPort}/`);
      expect(failed[0]!['next']).toContain(':5672/');
    } finally {
      await client.close();
      await runner.stop();
    }
  });

  it('a list where no node answers: startup gives up with the last error and each node\'s last answer, passwords masked', async () => {
    const password = new URL(BROKER).password;
    const config = loadConfig({ AMQP_URI: [uriOn(closedPort), `amqp://guest:${password}@127.0.0.1:1/`], STARTUP_TIMEOUT: 1.5, LOGGING: { level: 'silent' } });
    const err = await ClusterRpcProxy.connect(config, { logger: new LogTap('debug').logger }).then(
      async (client) => {
        await client.close();
        throw new Error('connected');
      },
      (e: unknown) => e as EnokiError,
    );
    expect(err.code).toBe('ENOKI_ERR_BROKER_REFUSED');
    expect(err.message).toContain('every broker of AMQP_URI');
    expect(err.message).toContain(`127.0.0.1:${closedPort}/`);
    expect(err.message).toContain('127.0.0.1:1/: ENOKI_ERR_BROKER_REFUSED');
    expect(err.message).toMatch(/gave up after \d+ attempts/);
    expect(err.message).not.toContain(`:${password}@`);
  });

  it('a wrong password on any node fails at once (users are cluster-wide)', async () => {
    const config = loadConfig({ AMQP_URI: [uriOn(new URL(BROKER).port || 5672).replace(/:[^:@/]*@/, ':wrong-pw@'), uriOn(closedPort)], STARTUP_TIMEOUT: 30, LOGGING: { level: 'silent' } });
    const started = Date.now();
    const err = await ClusterRpcProxy.connect(config).then(
      () => new Error('connected'),
      (e: unknown) => e as EnokiError,
    );
    expect((err as EnokiError).code).toBe('ENOKI_ERR_BROKER_AUTH');
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
