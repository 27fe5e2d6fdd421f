// CliService (test/fixtures/cli-service.ts) running on the real broker in a vhost of the
// test file's own, for the tests of the commands that call it (enoki call, enoki shell).

import { loadConfig, ServiceRunner } from 'enoki';
import { afterAll, beforeAll } from 'vitest';
import { CliService } from '../fixtures/cli-service.js';
import { createVhost, type TestVhost } from './vhost.js';

/** Register the hooks; `uri()` is the vhost's AMQP URI once the service runs. */
export function hostCliService(prefix: string): { uri: () => string } {
  let vhost: TestVhost | undefined;
  let runner: ServiceRunner | undefined;
  beforeAll(async () => {
    vhost = createVhost(prefix);
    runner = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }));
    runner.add(CliService);
    await runner.start();
  });
  afterAll(async () => {
    await runner?.stop();
    vhost?.remove();
  });
  return { uri: () => vhost!.uri };
}
