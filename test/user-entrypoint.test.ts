// A user-written entrypoint behaves like @rpc: utils/pg-notify.ts, the README's example
// exactly as the README prints it, runs its methods through the container's worker path
// (hooks, max_workers, @cpuBound) and works with enoki/testing (entrypointWaiter,
// entrypointHook, restrictEntrypoints). Needs PostgreSQL (DATABASE_URL, as
// test/guestbook-db.test.ts).

import pg from 'pg';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineEntrypoint, defineEntrypointKind, entrypointDecorator, markEntrypoint, MethodEntrypoint, type MethodDecorator, type WorkerOutcome } from 'enoki';
import { entrypointHook, entrypointWaiter, restrictEntrypoints, serviceFixtures } from 'enoki/testing';
import { CountingHooks, Notified } from './fixtures/user-entrypoint/notified-service.js';
import { captureLogs } from './helpers/log-capture.js';
import { defineService } from '../src/service-definition.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MODULE = new URL('./fixtures/user-entrypoint/notified-service.ts', import.meta.url).href;

const db = new pg.Client({ connectionString: DATABASE_URL });
beforeAll(() => db.connect());
afterAll(() => db.end());

const notify = (channel: string, payload: string) => db.query('SELECT pg_notify($1, $2)', [channel, payload]);

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the README example', () => {
  it('is utils/pg-notify.ts, character for character', () => {
    const block = /```ts\n\/\/ utils\/pg-notify\.ts\n([\s\S]*?)```/.exec(README);
    expect(block, 'README has a ```ts block starting with // utils/pg-notify.ts').not.toBeNull();
    expect(block![1]).toBe(readFileSync(new URL('../utils/pg-notify.ts', import.meta.url), 'utf8'));
  });

  describe('its service, run as the README prints it', () => {
    // The block that follows: a service on @pgNotify, written to a folder beside utils/ (its
    // import is '../utils/pg-notify.js') and loaded as a user's service module is.
    const block = /```ts\n(import \{ cpuBound \} from 'enoki';\nimport \{ pgNotify \} from '\.\.\/utils\/pg-notify\.js';\n[\s\S]*?)```/.exec(README);
    const dir = new URL(`../.readme-user-entrypoint-${process.pid}/`, import.meta.url);
    const file = new URL('orders.ts', dir);
    const services = serviceFixtures(afterEach, { config: { DATABASE_URL } });
    beforeAll(() => {
      expect(block, 'README has the ```ts block of a service on @pgNotify').not.toBeNull();
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, block![1]!);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('runs onOrder per NOTIFY on orders, and the @cpuBound report in a pool thread', async () => {
      const { Orders } = (await import(pathToFileURL(file.pathname).href)) as { Orders: new () => object };
      const logs = captureLogs();
      const container = await services.start(Orders as never, { module: file.href, logger: logs.logger });
      const payload = `readme-${process.pid}-${Date.now()}`;
      const ordered = entrypointWaiter(container, 'onOrder' as never, { filter: ({ ctx }) => ctx.args[0] === payload });
      const reported = entrypointWaiter(container, 'report' as never, { filter: ({ ctx }) => ctx.args[0] === payload, timeoutMs: 15_000 });
      await notify('orders', payload);
      await notify('reports', payload);
      const order = await ordered;
      expect({ entrypoint: order.ctx.entrypoint, error: order.error }).toEqual({ entrypoint: 'pg-notify', error: undefined });
      const report = await reported;
      expect({ entrypoint: report.ctx.entrypoint, error: report.error }).toEqual({ entrypoint: 'pg-notify', error: undefined });
      // It went to the pool: its method is marked @cpuBound whichever side of @pgNotify the
      // README puts it, and a pool thread loaded the README's module.
      expect(container.definition.methods.get('report')?.cpuBound).toEqual({});
      const ready = logs.records.find((r) => r.msg === 'worker pool ready for orders');
      expect(ready).toMatchObject({ module: file.href, thread: expect.any(Number) });
      expect(ready!.thread).toBeGreaterThan(0);
    });
  });
});

describe('@pgNotify, a user-written entrypoint', () => {
  const services = serviceFixtures(afterEach, { config: { DATABASE_URL } });

  it('runs the method per notification through the worker path, hooks included', async () => {
    const container = await services.start(Notified, { module: MODULE });
    CountingHooks.setups.clear();
    CountingHooks.teardowns.clear();
    const ran = entrypointWaiter(container, 'onOrder');
    await notify('enoki_user_ep_orders', 'order-1');
    const { ctx, result, error } = await ran;
    expect(error).toBeUndefined();
    expect(result).toEqual({ payload: 'order-1', mainThread: true });
    expect(ctx.entrypoint).toBe('pg-notify');
    expect(ctx.callId).toMatch(/^notified\.onOrder\./);
    expect(CountingHooks.setups.get('pg-notify')).toBe(1);
    expect(CountingHooks.teardowns.get('pg-notify')).toBe(1);
  });

  it('runs a @cpuBound method in a pool thread', async () => {
    const container = await services.start(Notified, { module: MODULE });
    const ran = entrypointWaiter(container, 'heavy', { timeoutMs: 15_000 });
    await notify('enoki_user_ep_heavy', 'h-1');
    expect((await ran).result).toEqual({ payload: 'h-1', mainThread: false });
  });

  it('keeps to max_workers', async () => {
    const container = await services.start(Notified, { module: MODULE, config: { max_workers: 1 } });
    Notified.maxRunning = 0;
    let done = 0;
    const allDone = new Promise<void>((resolve) =>
      container.onWorkerDone(({ ctx }) => {
        if (ctx.methodName === 'slow' && ++done === 3) resolve();
      }),
    );
    for (const n of [1, 2, 3]) await notify('enoki_user_ep_slow', `s-${n}`);
    await allDone;
    expect(Notified.maxRunning).toBe(1);
  });

  it('works with entrypointHook and restrictEntrypoints', async () => {
    const container = services.container(Notified, { module: MODULE });
    restrictEntrypoints(container, 'onOrder');
    await container.start();
    expect(await entrypointHook(container, 'onOrder')('direct')).toEqual({ payload: 'direct', mainThread: true });
    // Restricted away: the other channels are not listened to.
    expect(() => entrypointWaiter(container, 'slow')).toThrow(/no such entrypoint/);
  });

  it('refuses a kind name that could not be told apart', () => {
    class Nothing extends MethodEntrypoint<undefined> {
      start(): void {}
      stop(): void {}
    }
    expect(() => defineEntrypoint('direct', Nothing, () => undefined)).toThrow(/'direct' is enoki\/testing's/);
    expect(() => defineEntrypoint('two words', Nothing, () => undefined)).toThrow(/letters, digits/);
  });
});

class Refused extends Error {}

describe('markEntrypoint, for a decorator of another shape (as @rpc and @http are made)', () => {
  const services = serviceFixtures(afterEach);

  it('makes a decorator usable bare and with options, with expected errors and sensitive arguments', async () => {
    // An entrypoint a test fires by hand: each start() leaves a trigger per method.
    const triggers = new Map<string, (arg: unknown) => Promise<WorkerOutcome>>();
    const kind = defineEntrypointKind<{ label: string }>({
      name: 'by-hand',
      create: (host, marked) =>
        marked.map(({ method, options }) => ({
          start: () => void triggers.set(method.methodName, (arg) => host.spawnWorker(method, [arg, options.label], { entrypoint: 'by-hand' })),
          stop: () => void triggers.delete(method.methodName),
        })),
    });
    function byHand(options: { label: string }): MethodDecorator;
    function byHand<T extends Function>(value: T, context: ClassMethodDecoratorContext): void;
    function byHand(...args: unknown[]): unknown {
      if (args.length === 1) {
        return markEntrypoint('byHand', kind, [{ label: (args[0] as { label: string }).label }], { expected: [Refused], sensitiveArguments: ['secret.pin'] });
      }
      (markEntrypoint('byHand', kind, [{ label: 'bare' }]) as (...inner: unknown[]) => void)(...args);
      return undefined;
    }
    class Manual {
      static name = 'manual';
      @byHand plain(value: unknown, label: string) {
        return { value, label };
      }
      @byHand({ label: 'guarded' }) guarded(secret: { pin: string }, _label: string) {
        throw new Refused(`no entry with ${secret.pin.length} digits`);
      }
    }
    const logs = captureLogs();
    const container = await services.start(Manual, { logger: logs.logger });
    expect((await triggers.get('plain')!(1)).result).toEqual({ value: 1, label: 'bare' });
    const refused = await triggers.get('guarded')!({ pin: '1234' });
    expect(refused.error).toBeInstanceOf(Refused);
    expect(refused.ctx.entrypoint).toBe('by-hand');
    expect(refused.ctx.redactedArgs).toEqual([{ pin: '********' }, 'guarded']);
    // Expected: a warning without a stack, as for @rpc({ expected }); never an error-level line.
    expect(logs.records.filter((r) => r.level >= 50)).toEqual([]);
    const warning = logs.records.find((r) => r.level === 40 && r.msg === 'manual.guarded raised an expected error');
    expect(warning).toBeDefined();
    expect(JSON.stringify(logs.records)).not.toContain('1234');
    expect(container.definition.methods.get('guarded')?.expected).toEqual([Refused]);
    // Bad common options are refused when the decorator is made.
    expect(() => markEntrypoint('byHand', kind, [{ label: 'x' }], { expected: ['not a class'] as never })).toThrow(/expected is a list of error classes/);
    expect(() => markEntrypoint('byHand', kind, [{ label: 'x' }], { sensitiveArguments: 'pin' as never })).toThrow(/sensitiveArguments is a list/);
  });

  it('drives a MethodEntrypoint through setup, start, then stop or kill', async () => {
    const calls: string[] = [];
    class Recorded extends MethodEntrypoint<undefined> {
      override setup(): void {
        calls.push(`setup ${this.method.methodName}`);
      }
      start(): void {
        calls.push(`start ${this.method.methodName}`);
      }
      stop(): void {
        calls.push(`stop ${this.method.methodName}`);
      }
      override kill(): void {
        calls.push(`kill ${this.method.methodName}`);
      }
    }
    const recorded = defineEntrypoint('recorded', Recorded, () => undefined);
    class Lifecycle {
      static name = 'lifecycle';
      @recorded() one() {}
    }
    const first = await services.start(Lifecycle);
    await first.stop();
    const second = await services.start(Lifecycle);
    await second.kill();
    expect(calls).toEqual(['setup one', 'start one', 'stop one', 'setup one', 'start one', 'kill one']);
  });

  it('lets entrypointDecorator options carry expected errors too', () => {
    const kind = defineEntrypointKind<{ expected: Array<typeof Refused> }>({ name: 'with-expected', create: () => [] });
    const decorator = entrypointDecorator(kind, () => ({ expected: [Refused] }));
    class Svc {
      static name = 'with_expected';
      @decorator() one() {}
    }
    expect(defineService(Svc).methods.get('one')?.expected).toEqual([Refused]);
  });
});
