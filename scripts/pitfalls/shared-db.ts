// Pitfall (d): a shared resource that is not safe for concurrent calls. nameko runs up to
// max_workers calls of a service at once; one database connection handed to all of them
// is one session, so their transactions are one transaction: call A's ROLLBACK undoes
// call B's INSERT, and call B's COMMIT commits the INSERT of call C that was about to fail.
//
// enoki's answer: the DatabasePool dependency (utils/dependencies.ts), one pool per
// process on the main thread; each transaction gets a connection of its own for its
// duration. A @cpuBound method uses the same pool: its `this.db.query()` is forwarded to
// the main thread; a pool thread never opens connections of its own.
//
//   npx tsx scripts/pitfalls/shared-db.ts [--calls 60]
//
// Real PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) and
// RabbitMQ at AMQP_URI. Each variant writes to a fresh, empty table of its own; every
// third call is refused after its INSERT (so it must leave no row). Counts the rows
// afterwards. Exits 1 if, with DatabasePool, the rows are not exactly the successful calls'.

import pg from 'pg';
import { parseArgs } from 'node:util';
import { ClusterRpcProxy, cpuBound, dependency, DependencyProvider, ExpectedError, rpc } from '../../src/index.js';
import { DatabasePool, type DatabaseHandle, type Queryable } from '../../utils/dependencies.js';
import { clientConfig, DATABASE_URL, deleteQueues, isEntry, RUN, ServiceProcess, serviceName, table, verdict } from './support.js';

export class Refused extends ExpectedError {}

/**
 * Before: one pg connection opened in setup() and handed to every call, with the same
 * `query` / `transaction` interface as DatabasePool. Nothing about it looks wrong.
 */
class OneConnectionProvider extends DependencyProvider<DatabaseHandle> {
  private client: pg.Client | null = null;

  override async setup(): Promise<void> {
    this.client = new pg.Client({ connectionString: (this.container.config.DATABASE_URL as string | undefined) ?? DATABASE_URL });
    // Postgres answers a BEGIN inside a transaction with a warning, not an error: which is
    // why this fails silently. Keep the notices out of the way.
    this.client.on('notice', () => undefined);
    await this.client.connect();
  }

  getDependency(): DatabaseHandle {
    const client = this.client!;
    const query: Queryable['query'] = async (text, values) => {
      const result = await client.query(text, values as unknown[] | undefined);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    };
    return {
      query,
      transaction: async (work) => {
        await client.query('BEGIN');
        try {
          const out = await work({ query });
          await client.query('COMMIT');
          return out;
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        }
      },
    };
  }

  override async stop(): Promise<void> {
    await this.client?.end();
    this.client = null;
  }
}
const OneConnection = dependency(OneConnectionProvider);

const TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Insert, check, and either refuse at once (ROLLBACK) or do the rest of the work, which
 * takes a moment (20 ms of pg_sleep: other calls' statements arrive meanwhile), and COMMIT.
 */
async function record(db: DatabaseHandle, tableName: string, name: string, ok: boolean): Promise<string> {
  if (!TABLE.test(tableName)) throw new Refused(`bad table name ${tableName}`);
  return db.transaction(async (tx) => {
    await tx.query(`INSERT INTO ${tableName} (name) VALUES ($1)`, [name]);
    if (!ok) throw new Refused(`${name} refused`);
    await tx.query('SELECT pg_sleep(0.02)');
    return name;
  });
}

export class SharedConnectionLedger {
  static name = serviceName('pitfall_db_shared');
  db = new OneConnection();

  @rpc
  record(tableName: string, name: string, ok: boolean) {
    return record(this.db, tableName, name, ok);
  }
}

export class PooledLedger {
  static name = serviceName('pitfall_db_pool');
  db = new DatabasePool();

  @rpc
  record(tableName: string, name: string, ok: boolean) {
    return record(this.db, tableName, name, ok);
  }
}

/**
 * The same pool from a @cpuBound method: `this.db` in a pool thread forwards each query()
 * to the main thread's DatabasePool. Only calls with plain arguments cross (a transaction
 * callback cannot), so a thread computes, then writes in one statement, or returns its
 * result for an inline method to write in a transaction.
 */
export class PooledLedgerInThread {
  static name = serviceName('pitfall_db_thread');
  db = new DatabasePool();

  @rpc
  @cpuBound
  async record(tableName: string, name: string, ok: boolean) {
    if (!TABLE.test(tableName)) throw new Refused(`bad table name ${tableName}`);
    // Stand-in for the CPU work that made this method @cpuBound.
    let digest = 0;
    for (let i = 0; i < 200_000; i++) digest = (digest * 31 + name.charCodeAt(i % name.length)) >>> 0;
    if (!ok) throw new Refused(`${name} refused (digest ${digest})`);
    await this.db.query(`INSERT INTO ${tableName} (name) VALUES ($1)`, [name]);
    return name;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '60' } } });
  const calls = Number(values.calls);
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  const variants = [
    { cls: SharedConnectionLedger, label: 'before: one shared connection', table: `pitfall_db_${RUN}_shared` },
    { cls: PooledLedger, label: 'after: DatabasePool', table: `pitfall_db_${RUN}_pool` },
    { cls: PooledLedgerInThread, label: 'after: DatabasePool from @cpuBound', table: `pitfall_db_${RUN}_thread` },
  ];
  const service = await ServiceProcess.start(['scripts/pitfalls/shared-db.ts'], { DATABASE_URL, max_workers: 10, POOL: { threads: 2 } });
  const rows: string[][] = [];
  const failures: string[] = [];
  let anomalies = 0;
  try {
    await using client = await ClusterRpcProxy.connect(clientConfig(), { timeoutMs: 60_000 });
    for (const v of variants) {
      await admin.query(`DROP TABLE IF EXISTS ${v.table}`);
      await admin.query(`CREATE TABLE ${v.table} (id serial PRIMARY KEY, name text NOT NULL)`);
      const before = Number((await admin.query(`SELECT count(*) AS n FROM ${v.table}`)).rows[0].n);
      const proxy = client.service(v.cls.name);
      // All at once: the service runs max_workers (10) of them concurrently.
      const outcomes = await Promise.allSettled(Array.from({ length: calls }, (_, i) => proxy.record(v.table, `call-${i}`, i % 3 !== 2)));
      const succeeded = new Set<string>();
      const refused = new Set<string>();
      const otherErrors: string[] = [];
      outcomes.forEach((o, i) => {
        const name = `call-${i}`;
        if (o.status === 'fulfilled') succeeded.add(name);
        else if ((o.reason as { excType?: string }).excType === 'Refused') refused.add(name);
        else otherErrors.push(`${name}: ${(o.reason as Error).message}`);
      });
      const found: string[] = (await admin.query(`SELECT name FROM ${v.table}`)).rows.map((r: { name: string }) => r.name);
      const lost = [...succeeded].filter((n) => !found.includes(n)).length;
      const phantom = found.filter((n) => refused.has(n)).length;
      const duplicates = found.length - new Set(found).size;
      rows.push([
        v.label,
        `${succeeded.size} / ${refused.size}${otherErrors.length ? ` / ${otherErrors.length} other errors` : ''}`,
        `${before} -> ${found.length}`,
        String(succeeded.size),
        String(lost),
        String(phantom),
      ]);
      const exact = before === 0 && found.length === succeeded.size && lost === 0 && phantom === 0 && duplicates === 0 && otherErrors.length === 0;
      if (v.cls === SharedConnectionLedger) anomalies = lost + phantom + otherErrors.length;
      else if (!exact) failures.push(`${v.label}: ${found.length} rows for ${succeeded.size} successful calls (lost ${lost}, refused-but-written ${phantom}, duplicates ${duplicates}${otherErrors.length ? `, ${otherErrors[0]}` : ''})`);
      if (v.cls !== SharedConnectionLedger && succeeded.size + refused.size !== calls) failures.push(`${v.label}: ${calls - succeeded.size - refused.size} calls failed unexpectedly`);
    }
  } finally {
    const code = await service.stop();
    if (code !== 0) failures.push(`enoki run exited ${code} on SIGTERM`);
    await deleteQueues(variants.map((v) => v.cls.name));
    for (const v of variants) await admin.query(`DROP TABLE IF EXISTS ${v.table}`).catch(() => undefined);
    await admin.end();
  }
  console.log(`\n${calls} concurrent calls per variant (10 at a time), every third refused after its INSERT; each table starts empty:\n`);
  console.log(table(['variant', 'calls ok / refused', 'rows', 'rows expected', 'lost writes', 'refused calls written'], rows));
  if (anomalies === 0) console.log('\n(The shared connection happened not to mix these calls this run; rerun, or raise --calls.)');
  verdict(failures, 'with DatabasePool exactly the successful calls wrote a row, inline and from pool threads.');
}

if (isEntry(import.meta.url)) await main();
