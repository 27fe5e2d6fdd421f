// Dependencies shared by the example services, as in the seed project's
// utils/dependencies.py.

import type { Pool } from 'pg';
import { DependencyProvider, dependency } from 'enoki';

// LoggingDependency ships with enoki (src/logging-dependency.ts); re-exported here so the
// example services import their dependencies from one place, as in nameko projects.
export { LoggingDependency } from 'enoki';

/**
 * DatabasePool: one PostgreSQL connection pool per service process, shared by every
 * concurrent call. The seed's warning made concrete: a single connection shared by
 * concurrent calls interleaves their statements (a transaction in one call sees another's
 * writes, or a query fails mid-protocol); a pool hands each query, or each checked-out
 * client, to one call at a time. Opened in setup(), closed in stop() after calls in
 * flight have finished.
 *
 * The pool lives on the main thread with the AMQP connection: its sockets are I/O, not
 * CPU. A @cpuBound method runs in a pool thread, where `this.db` is a proxy that forwards
 * each `query()` to this pool and awaits the rows (values cross by structured clone); it
 * must not open connections of its own in the thread.
 *
 * Config: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); the pool holds
 * up to max_workers connections, so every concurrent call can have one.
 */
class DatabasePoolProvider extends DependencyProvider<DatabaseHandle> {
  private pool: Pool | null = null;

  override async setup(): Promise<void> {
    const { Pool } = await import('pg');
    const url = (this.container.config.DATABASE_URL as string | undefined) ?? 'postgres://postgres@127.0.0.1:5432/test';
    this.pool = new Pool({ connectionString: url, max: this.container.config.max_workers });
    // An idle client that errors (server restart) must not crash the process.
    this.pool.on('error', (err) => this.container.logger.warn({ err }, 'idle database connection failed'));
  }

  getDependency(): DatabaseHandle {
    const pool = this.pool;
    if (!pool) throw new Error('DatabasePool used before setup()');
    return {
      query: async (text, values) => {
        const result = await pool.query(text, values as unknown[] | undefined);
        return { rows: result.rows, rowCount: result.rowCount ?? 0 };
      },
      transaction: async (work) => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const out = await work({
            query: async (text, values) => {
              const result = await client.query(text, values as unknown[] | undefined);
              return { rows: result.rows, rowCount: result.rowCount ?? 0 };
            },
          });
          await client.query('COMMIT');
          return out;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
      },
    };
  }

  override async stop(): Promise<void> {
    await this.pool?.end();
    this.pool = null;
  }

  override async kill(): Promise<void> {
    await this.stop();
  }
}

type Row = Record<string, unknown>;
export interface Queryable {
  query<R extends Row = Row>(text: string, values?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number }>;
}
export interface DatabaseHandle extends Queryable {
  /** Run `work` on one connection inside BEGIN/COMMIT (ROLLBACK if it throws). */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
}

export const DatabasePool = dependency(DatabasePoolProvider);
