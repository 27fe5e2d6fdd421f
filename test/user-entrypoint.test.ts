// A user-written entrypoint behaves like @rpc: utils/pg-notify.ts, the README's example
// exactly as the README prints it, runs its methods through the container's worker path
// (hooks, max_workers, @cpuBound) and works with enoki/testing (entrypointWaiter,
// entrypointHook, restrictEntrypoints). Needs PostgreSQL (DATABASE_URL, as
// test/guestbook-db.test.ts).

import pg from 'pg';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineEntrypoint, MethodEntrypoint } from 'enoki';
import { entrypointHook, entrypointWaiter, restrictEntrypoints, serviceFixtures } from 'enoki/testing';
import { CountingHooks, Notified } from './fixtures/user-entrypoint/notified-service.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MODULE = new URL('./fixtures/user-entrypoint/notified-service.ts', import.meta.url).href;

const db = new pg.Client({ connectionString: DATABASE_URL });
beforeAll(() => db.connect());
afterAll(() => db.end());

const notify = (channel: string, payload: string) => db.query('SELECT pg_notify($1, $2)', [channel, payload]);

describe('the README example', () => {
  it('is utils/pg-notify.ts, character for character', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = /```ts\n\/\/ utils\/pg-notify\.ts\n([\s\S]*?)```/.exec(readme);
    expect(block, 'README has a ```ts block starting with // utils/pg-notify.ts').not.toBeNull();
    expect(block![1]).toBe(readFileSync(new URL('../utils/pg-notify.ts', import.meta.url), 'utf8'));
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
