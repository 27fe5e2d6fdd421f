// A fresh RabbitMQ vhost per test file (as nameko's own tests do), so files that use
// the same service names can run in parallel without sharing queues.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const BROKER = process.env.ENOKI_TEST_BROKER ?? 'amqp://guest:guest@127.0.0.1:5672';

function ctl(...args: string[]): void {
  execFileSync('rabbitmqctl', args, { stdio: 'ignore' });
}

export interface TestVhost {
  name: string;
  uri: string;
  remove(): void;
}

export function createVhost(prefix: string): TestVhost {
  const name = `enoki-test-${prefix}-${randomBytes(4).toString('hex')}`;
  ctl('add_vhost', name);
  ctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*');
  return {
    name,
    uri: `${BROKER}/${encodeURIComponent(name)}`,
    remove: () => ctl('delete_vhost', name),
  };
}
