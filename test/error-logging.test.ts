// Unlike nameko, a method's error is always logged with its stack, with or without a
// logging dependency; and once only: a provider that logs errors itself takes over.

import { afterEach, expect, it } from 'vitest';
import { DependencyProvider, ExpectedError, loadConfig, rpc, ServiceContainer, type WorkerContext } from 'enoki';
import { entrypointHook } from 'enoki/testing';
import { captureLogs } from './helpers/log-capture.js';

class Refused extends ExpectedError {}

class Plain {
  static name = 'error_logging_plain';
  @rpc boom() {
    throw new TypeError('kaput');
  }
  @rpc refuse() {
    throw new Refused('not allowed');
  }
}

class SelfLogging extends DependencyProvider<null> {
  override readonly logsWorkerErrors = true;
  readonly seen: Error[] = [];
  getDependency(): null {
    return null;
  }
  override workerResult(_ctx: WorkerContext, _result: unknown, error: Error | undefined): void {
    if (error) this.seen.push(error);
  }
}

class WithLogger {
  static name = 'error_logging_with_logger';
  log = new SelfLogging();
  @rpc boom() {
    throw new TypeError('kaput');
  }
}

const containers: ServiceContainer[] = [];
afterEach(async () => {
  await Promise.all(containers.splice(0).map((c) => c.stop()));
});

async function start<S>(cls: new () => S, logs: ReturnType<typeof captureLogs>) {
  const container = new ServiceContainer(cls as never, loadConfig({ AMQP_URI: `memory://error-logging-${Math.random()}` }), { logger: logs.logger });
  containers.push(container);
  await container.start();
  return container as ServiceContainer<S>;
}

it('logs a failure at error level with its stack, with no logging dependency', async () => {
  const logs = captureLogs();
  const hook = entrypointHook(await start(Plain, logs), 'boom');
  await expect(hook()).rejects.toThrow('kaput');
  const errors = logs.records.filter((r) => r.level === 50);
  expect(errors).toHaveLength(1);
  expect(errors[0]!.msg).toBe('error_logging_plain.boom raised TypeError: kaput');
  expect(String((errors[0]!.err as { stack?: string }).stack)).toMatch(/TypeError: kaput\n\s+at Plain\.boom/);
});

it('logs an expected error as a warning without a stack', async () => {
  const logs = captureLogs();
  await expect(entrypointHook(await start(Plain, logs), 'refuse')()).rejects.toThrow('not allowed');
  expect(logs.records.filter((r) => r.level >= 50)).toHaveLength(0);
  const warning = logs.records.find((r) => r.level === 40)!;
  expect(warning.msg).toBe('error_logging_plain.refuse raised an expected error');
  expect(warning.err).toBeUndefined();
});

it('leaves the error to a provider that logs errors itself, so it is logged once', async () => {
  const logs = captureLogs();
  const container = await start(WithLogger, logs);
  await expect(entrypointHook(container, 'boom')()).rejects.toThrow('kaput');
  expect(logs.records.filter((r) => r.level >= 50)).toHaveLength(0);
  expect((container.providers.get('log') as SelfLogging).seen.map((e) => e.message)).toEqual(['kaput']);
});
