// `@cpuBound({ maxSeconds })`: long tasks and RabbitMQ's consumer_timeout. The plan
// (src/rpc/long-tasks.ts) is pure and tested here for both branches. RabbitMQ 3.12+ (a
// per-queue x-consumer-timeout) is tested only with a faked server version on the memory
// transport: the broker here is 3.10. The 3.10 branch (one coded notice naming the broker
// setting) runs against the real broker.

import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cpuBound, loadConfig, ServiceRunner, type EnokiError } from '../src/index.js';
import {
  BROKER_DEFAULT_CONSUMER_TIMEOUT_MS,
  consumerTimeoutArgumentError,
  parseBrokerVersion,
  planLongTasks,
  REPLY_MARGIN_MS,
  takesQueueConsumerTimeout,
  unacknowledgedForMs,
} from '../src/rpc/long-tasks.js';
import { MemoryTransport, resetMemoryBroker } from '../src/transport/memory-transport.js';
import type { ConsumeSpec } from '../src/transport/transport.js';
import { Reports } from './fixtures/offload/long-tasks.js';
import { captureLogs } from './helpers/log-capture.js';
import { createVhost, type TestVhost } from './support/vhost.js';

function thrown(fn: () => unknown): EnokiError {
  try {
    fn();
  } catch (err) {
    return err as EnokiError;
  }
  throw new Error('expected an error');
}

describe('@cpuBound({ maxSeconds })', () => {
  it('takes a positive number; an unknown option stays a coded error with a did-you-mean', () => {
    const typo = thrown(() => cpuBound({ maxSecond: 60 } as never));
    expect(typo.code).toBe('ENOKI_ERR_DECORATOR_USAGE');
    expect(typo.message).toContain('did you mean maxSeconds?');
    expect(typo.message).toContain('timeout, maxSeconds');
    for (const bad of [0, -5, Number.NaN, Infinity, '60']) {
      const err = thrown(() => cpuBound({ maxSeconds: bad as number }));
      expect(err.code).toBe('ENOKI_ERR_DECORATOR_USAGE');
      expect(err.message).toContain('maxSeconds is a positive number of seconds');
    }
    expect(() => cpuBound({ maxSeconds: 7_200, timeout: 7_300_000 })).not.toThrow();
  });
});

describe('the plan', () => {
  it('reads the broker version from its server properties', () => {
    expect(parseBrokerVersion('3.10.8')).toEqual([3, 10, 8]);
    expect(parseBrokerVersion('4.1')).toEqual([4, 1, 0]);
    expect(parseBrokerVersion(undefined)).toBeUndefined();
    expect(parseBrokerVersion('unknown')).toBeUndefined();
    expect(['3.10.8', '3.11.28', undefined, 'x'].map(takesQueueConsumerTimeout)).toEqual([false, false, false, false]);
    expect(['3.12.0', '3.13.7', '4.0.5', '10.0.0'].map(takesQueueConsumerTimeout)).toEqual([true, true, true, true]);
  });

  it('covers the wait for a worker: one round per max_workers requests held beyond those running, plus the reply', () => {
    expect(unacknowledgedForMs(100, 10, 0)).toBe(100_000 + REPLY_MARGIN_MS);
    expect(unacknowledgedForMs(100, 10, 10)).toBe(200_000 + REPLY_MARGIN_MS);
    expect(unacknowledgedForMs(100, 10, 128)).toBe(1_400_000 + REPLY_MARGIN_MS);
    expect(unacknowledgedForMs(100, 1, 3)).toBe(400_000 + REPLY_MARGIN_MS);
  });

  const methods = [
    { method: 'reports.monthly', maxSeconds: 600 },
    { method: 'reports.yearly', maxSeconds: 3_600 },
  ];

  it('nothing to do when no method declares maxSeconds', () => {
    expect(planLongTasks({ queue: 'rpc-reports', methods: [], brokerVersion: '3.10.8', maxWorkers: 10, maxPendingReplies: 0 })).toBeUndefined();
  });

  it('RabbitMQ 3.12+ (faked version): the queue argument x-consumer-timeout for the longest method, and no notice', () => {
    const plan = planLongTasks({ queue: 'rpc-reports', methods, brokerVersion: '3.12.13', maxWorkers: 10, maxPendingReplies: 0 })!;
    expect(plan.longest).toEqual({ method: 'reports.yearly', maxSeconds: 3_600 });
    expect(plan.queueArguments).toEqual({ 'x-consumer-timeout': 3_600_000 + REPLY_MARGIN_MS });
    expect(plan.notice).toBeUndefined();
  });

  it('older brokers: one coded notice naming the method, the setting and its value; a warning past the 30-min default', () => {
    const plan = planLongTasks({ queue: 'rpc-reports', methods, brokerVersion: '3.10.8', maxWorkers: 10, maxPendingReplies: 10 })!;
    expect(plan.queueArguments).toBeUndefined();
    expect(plan.timeoutMs).toBe(7_200_000 + REPLY_MARGIN_MS);
    expect(plan.notice!.level).toBe('warn');
    const { error } = plan.notice!;
    expect(error.code).toBe('ENOKI_ERR_LONG_TASK_BROKER');
    expect(error.message).toContain('reports.yearly declares calls of up to 3600 s');
    expect(error.message).toContain('RabbitMQ 3.10.8 cannot take a consumer timeout per queue');
    expect(error.message).toContain(`consumer_timeout = ${plan.timeoutMs} in rabbitmq.conf`);
    expect(error.message).toContain(`{rabbit, [{consumer_timeout, ${plan.timeoutMs}}]} in advanced.config`);
    expect(error.message).toContain(`MAX_PENDING_REPLIES: 0 brings it down to ${3_600_000 + REPLY_MARGIN_MS} ms`);

    const short = planLongTasks({ queue: 'rpc-reports', methods: [{ method: 'reports.monthly', maxSeconds: 600 }], brokerVersion: undefined, maxWorkers: 10, maxPendingReplies: 0 })!;
    expect(short.timeoutMs).toBeLessThan(BROKER_DEFAULT_CONSUMER_TIMEOUT_MS);
    expect(short.notice!.level).toBe('info');
    expect(short.notice!.error.message).toContain('this broker (its version is unknown)');
  });

  it('explains a refused x-consumer-timeout (an existing queue, or a type without it), and nothing else', () => {
    const refused = consumerTimeoutArgumentError(
      new Error("Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-consumer-timeout' for queue 'rpc-reports' in vhost '/': received the value '3660000' of type 'signedint' but current is none\""),
      'rpc-reports',
      3_660_000,
    )!;
    expect(refused.code).toBe('ENOKI_ERR_CONSUMER_TIMEOUT_ARGUMENT');
    expect(refused.message).toContain('rabbitmqctl delete_queue rpc-reports');
    expect(refused.message).toContain('\'{"consumer-timeout": 3660000}\'');
    expect(consumerTimeoutArgumentError(new Error("PRECONDITION_FAILED - invalid arg 'x-consumer-timeout' for queue 'q' of queue type rabbit_classic_queue"), 'q', 1)?.code).toBe(
      'ENOKI_ERR_CONSUMER_TIMEOUT_ARGUMENT',
    );
    expect(consumerTimeoutArgumentError(new Error("PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q'"), 'q', 1)).toBeUndefined();
  });
});

describe('the service queue on a faked RabbitMQ 3.12 (memory transport with a server version)', () => {
  const VHOST = 'long-tasks';
  const specs: ConsumeSpec[] = [];

  afterEach(() => {
    vi.restoreAllMocks();
    delete (MemoryTransport.prototype as { brokerVersion?: string }).brokerVersion;
    resetMemoryBroker(VHOST);
    specs.length = 0;
  });

  async function start(version: string, refuse?: string): Promise<{ runner: ServiceRunner; logs: ReturnType<typeof captureLogs> }> {
    Object.defineProperty(MemoryTransport.prototype, 'brokerVersion', { value: version, configurable: true });
    const consume = MemoryTransport.prototype.consume;
    vi.spyOn(MemoryTransport.prototype, 'consume').mockImplementation(function (this: MemoryTransport, spec, onMessage) {
      specs.push(spec);
      // RabbitMQ's refusal, as the AMQP transport reports it (it then retries by itself).
      if (refuse && spec.queue.name === 'rpc-reports') {
        spec.onChannelError?.(new Error(refuse));
        spec.onChannelError?.(new Error(refuse));
      }
      return consume.call(this, spec, onMessage);
    });
    const logs = captureLogs('info');
    const runner = new ServiceRunner(loadConfig({ AMQP_URI: `memory://${VHOST}`, MAX_PENDING_REPLIES: 0, LOGGING: { level: 'info' } }), { logger: logs.logger });
    runner.add(Reports);
    await runner.start();
    return { runner, logs };
  }

  it('declares rpc-reports with x-consumer-timeout covering the longest method, and logs no notice', async () => {
    const { runner, logs } = await start('3.12.13');
    try {
      const queue = specs.find((s) => s.queue.name === 'rpc-reports')!.queue;
      expect(queue.arguments).toEqual({ 'x-consumer-timeout': 3_600_000 + REPLY_MARGIN_MS });
      expect(logs.records.filter((r) => r.code === 'ENOKI_ERR_LONG_TASK_BROKER')).toHaveLength(0);
      expect(logs.has('declared with x-consumer-timeout')).toBe(true);
    } finally {
      await runner.stop();
    }
  });

  it('a refused argument is explained once, as a coded error, however often the declaration is retried', async () => {
    const { runner, logs } = await start('3.13.7', "PRECONDITION_FAILED - inequivalent arg 'x-consumer-timeout' for queue 'rpc-reports' in vhost '/': received the value '3660000' of type 'signedint' but current is none");
    try {
      const refused = logs.records.filter((r) => r.code === 'ENOKI_ERR_CONSUMER_TIMEOUT_ARGUMENT');
      expect(refused).toHaveLength(1);
      expect(refused[0]!.level).toBe(50);
      expect(refused[0]!.msg).toContain('rabbitmqctl delete_queue rpc-reports');
    } finally {
      await runner.stop();
    }
  });

  it('memory:// itself (no server version) plans nothing: no argument, no notice', async () => {
    const consume = MemoryTransport.prototype.consume;
    vi.spyOn(MemoryTransport.prototype, 'consume').mockImplementation(function (this: MemoryTransport, spec, onMessage) {
      specs.push(spec);
      return consume.call(this, spec, onMessage);
    });
    const logs = captureLogs('info');
    const runner = new ServiceRunner(loadConfig({ AMQP_URI: `memory://${VHOST}`, LOGGING: { level: 'info' } }), { logger: logs.logger });
    runner.add(Reports);
    await runner.start();
    try {
      expect(specs.find((s) => s.queue.name === 'rpc-reports')!.queue.arguments).toBeUndefined();
      expect(logs.records.filter((r) => String(r.code ?? '').startsWith('ENOKI_ERR_'))).toHaveLength(0);
    } finally {
      await runner.stop();
    }
  });
});

describe('on the broker here (RabbitMQ 3.10: no per-queue consumer timeout)', () => {
  let vhost: TestVhost;
  let runner: ServiceRunner;
  const logs = captureLogs('info');

  beforeAll(async () => {
    vhost = createVhost('long-tasks');
    runner = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'info' } }), { logger: logs.logger });
    runner.add(Reports);
    await runner.start();
  });

  afterAll(async () => {
    await runner?.stop();
    vhost?.remove();
  });

  it('logs once, as a coded warning, the broker setting to change, and declares the queue without arguments', () => {
    const version = execFileSync('rabbitmqctl', ['version'], { encoding: 'utf8' }).trim();
    const notices = logs.records.filter((r) => r.code === 'ENOKI_ERR_LONG_TASK_BROKER');
    expect(notices).toHaveLength(1);
    expect(notices[0]!.level).toBe(40);
    expect(notices[0]!.msg).toContain(`RabbitMQ ${version} cannot take a consumer timeout per queue`);
    expect(notices[0]!.msg).toContain('reports.yearly declares calls of up to 3600 s');
    expect(notices[0]!.msg).toMatch(/consumer_timeout = \d+ in rabbitmq\.conf/);
    const queues = execFileSync('rabbitmqctl', ['list_queues', '-q', '--formatter', 'json', '-p', vhost.name, 'name', 'arguments'], { encoding: 'utf8' });
    const reports = (JSON.parse(queues) as Array<{ name: string; arguments: unknown }>).find((q) => q.name === 'rpc-reports')!;
    expect(reports.arguments).toEqual([]);
  });
});
