// @pgNotify(channel): a user-written entrypoint. The method runs once per PostgreSQL
// NOTIFY on the channel, with the notification's payload, through the same worker path as
// @rpc (hooks, max_workers, @cpuBound, enoki/testing). README "Writing your own
// entrypoint" shows this file as it is.

import pg from 'pg';
import { defineEntrypoint, MethodEntrypoint } from 'enoki';

class PgNotifyEntrypoint extends MethodEntrypoint<{ channel: string }> {
  private client: pg.Client | null = null;

  // One LISTEN connection per method; DATABASE_URL comes from config.yaml.
  async start(): Promise<void> {
    const url = (this.container.config.DATABASE_URL as string | undefined) ?? 'postgres://postgres@127.0.0.1:5432/test';
    const client = new pg.Client({ connectionString: url });
    client.on('error', (err) => this.container.logger.error({ err }, `LISTEN ${this.options.channel} failed`));
    client.on('notification', (message) => {
      // The container runs the call: a fresh instance, dependencies, hooks, the pool for @cpuBound.
      if (message.channel === this.options.channel) void this.spawn([message.payload ?? '']);
    });
    await client.connect();
    await client.query(`LISTEN ${client.escapeIdentifier(this.options.channel)}`);
    this.client = client;
  }

  // Stop listening; calls already spawned are finished by the container.
  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end();
  }
}

/** `@pgNotify('orders') onOrder(payload: string) { ... }` */
export const pgNotify = defineEntrypoint('pg-notify', PgNotifyEntrypoint, (channel: string) => ({ channel }));
