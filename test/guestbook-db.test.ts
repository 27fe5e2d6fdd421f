// One DatabasePool shared by concurrent calls: every write lands exactly once. Real
// PostgreSQL (127.0.0.1:5432, database test) and real RabbitMQ, in tables and a vhost of
// this file's own.

import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, ServiceRunner, type ClusterClient } from 'enoki';
import { GuestbookService } from '../services/guestbook/guestbook.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = `guestbook_test_${process.pid}_${Date.now().toString(36)}`;
let vhost: TestVhost;
let runner: ServiceRunner;
let client: ClusterClient;
const db = new pg.Client({ connectionString: DATABASE_URL });

beforeAll(async () => {
  vhost = createVhost('guestbook');
  const config = loadConfig({ AMQP_URI: vhost.uri, DATABASE_URL, max_workers: 8, LOGGING: { level: 'silent' } });
  runner = new ServiceRunner(config);
  runner.add(GuestbookService);
  await runner.start();
  client = await ClusterRpcProxy.connect(config, { timeoutMs: 20_000 });
  await db.connect();
  await db.query(`DROP TABLE IF EXISTS ${table}`);
});

afterAll(async () => {
  await client?.close();
  await runner?.stop();
  await db.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await db.end();
  vhost?.remove();
});

it('starts from an empty table and lands every one of 60 concurrent writes exactly once', async () => {
  await client.guestbook.init(table);
  expect((await db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBe(0);

  const names = Array.from({ length: 60 }, (_, i) => `guest-${i}`);
  const results = await Promise.all(names.map((name) => client.guestbook.sign(name, `hello from ${name}`, table)));

  const ids = results.map((r: { id: number }) => r.id);
  expect(new Set(ids).size).toBe(60);
  // Each call counted the rows its own transaction could see (READ COMMITTED): at least its own.
  expect(results.every((r: { entries: number }) => r.entries >= 1 && r.entries <= 60)).toBe(true);
  const { rows } = await db.query(`SELECT name, message FROM ${table} ORDER BY name`);
  expect(rows.map((r) => r.name).sort()).toEqual([...names].sort());
  expect(rows.every((r) => r.message === `hello from ${r.name}`)).toBe(true);
  expect(await client.guestbook.entries(table)).toHaveLength(60);
});

it('a bad entry is refused with the service error and writes nothing', async () => {
  await expect(client.guestbook.sign('', 'x', table)).rejects.toMatchObject({ excType: 'InvalidEntry' });
  expect((await db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBe(60);
});
