// GuestbookService: the seed's "shared resources must be pooled" pitfall, done right.
// Many concurrent `sign` calls share one DatabasePool; each write lands exactly once.

import { rpc, ExpectedError } from 'enoki';
import { DatabasePool, LoggingDependency } from '../../utils/dependencies.js';

export class InvalidEntry extends ExpectedError {}

const TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

export class GuestbookService {
  static name = 'guestbook';

  db = new DatabasePool();
  log = new LoggingDependency();

  /** Create the table (idempotent). `table` lets tests use a table of their own. */
  @rpc
  async init(table = 'guestbook') {
    if (!TABLE.test(table)) throw new InvalidEntry(`bad table name ${JSON.stringify(table)}`);
    await this.db.query(`CREATE TABLE IF NOT EXISTS ${table} (id serial PRIMARY KEY, name text NOT NULL, message text NOT NULL, signed_at timestamptz NOT NULL DEFAULT now())`);
    return table;
  }

  /** Store an entry and return its id and the number of entries so far, in one transaction. */
  @rpc
  async sign(name: string, message: string, table = 'guestbook') {
    if (!TABLE.test(table)) throw new InvalidEntry(`bad table name ${JSON.stringify(table)}`);
    if (typeof name !== 'string' || !name) throw new InvalidEntry('name is required');
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query<{ id: number }>(`INSERT INTO ${table} (name, message) VALUES ($1, $2) RETURNING id`, [name, String(message)]);
      const count = await tx.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      return { id: inserted.rows[0]!.id, entries: Number(count.rows[0]!.n) };
    });
  }

  @rpc
  async entries(table = 'guestbook') {
    if (!TABLE.test(table)) throw new InvalidEntry(`bad table name ${JSON.stringify(table)}`);
    const { rows } = await this.db.query<{ id: number; name: string; message: string }>(`SELECT id, name, message FROM ${table} ORDER BY id`);
    return rows;
  }
}
