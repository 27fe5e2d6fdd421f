// `npm start` with no broker: scripts/demo.ts runs the example services on memory:// in its
// own process, an event and a timer included (services/shop/shop.ts: Shop dispatches
// order_placed inside an RPC call, Warehouse's handler reserves it and its @timer sweeps).
// test/readme-commands.test.ts runs `npm start` with RabbitMQ up; this is the other branch.
// AMQP_URI names a local port that nothing listens on, so no broker is touched.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A local port nothing listens on: bound by us, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('npm start without a broker', () => {
  it('runs the services on memory://: the event dispatched in a call is handled, and the timer ticks', async () => {
    const port = await deadPort();
    const child = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, AMQP_URI: `amqp://guest:guest@127.0.0.1:${port}/`, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    expect({ code, output }).toMatchObject({ code: 0 });
    expect(output).toMatch(new RegExp(`RabbitMQ did not answer at amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:${port}/: running the same services in this process on memory://`));
    expect(output).toMatch(/greeting_service\.hello\('world'\)\s+-> "Hello, world!"/);
    expect(output).toMatch(/shop\.place_order\('teapot'\)\s+-> \{"id":\d+,"item":"teapot"\}/);
    const status = /warehouse\.status\(\) \(event handled, timer ticking\)\s+-> (\{.*\})/.exec(output);
    expect(status, output).not.toBeNull();
    const { reserved, sweeps } = JSON.parse(status![1]!) as { reserved: string[]; sweeps: number };
    expect(reserved).toEqual(['teapot']);
    // @timer(0.5, { eager: true }): one sweep at start at least, then one each half second.
    expect(sweeps).toBeGreaterThanOrEqual(1);
    expect(output).not.toMatch(/enoki run stopped/);
  }, 120_000);
});
