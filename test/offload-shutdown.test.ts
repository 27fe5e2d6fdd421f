// Stopping a service while a pool task runs. Within POOL.shutdown_grace the task finishes
// and is answered; past it (or on kill) the task is aborted and NOT answered, so its
// request, never acknowledged, returns to the queue and the next instance runs it: the
// caller still gets its answer, nothing is lost.

import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, ServiceRunner, type ClusterClient, type ServiceContainer } from '../src/index.js';
import { ShutdownService } from './fixtures/offload/services.js';

const URI = 'amqp://guest:guest@127.0.0.1:5672/';
const base = { AMQP_URI: URI, rpc_exchange: 'offload-shutdown-test', LOGGING: { level: 'silent' as const } };
const longGrace = loadConfig({ ...base, POOL: { threads: 1, shutdown_grace: 10 } });
const shortGrace = loadConfig({ ...base, POOL: { threads: 1, shutdown_grace: 0.5 } });

interface LogLine {
  level: number;
  msg: string;
}
const logs: LogLine[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });

let client: ClusterClient;
const cleanup: ServiceContainer[] = [];

async function deleteQueue(): Promise<void> {
  const connection = await amqp.connect(URI);
  const channel = await connection.createChannel();
  await channel.deleteQueue('rpc-offload_shutdown_svc');
  await connection.close();
}

async function startService(config: typeof longGrace): Promise<ServiceContainer> {
  const runner = new ServiceRunner(config, { logger });
  const container = runner.add(ShutdownService);
  await runner.start();
  cleanup.push(container);
  return container;
}

/** Resolves once the container has a call running and it has had time to reach its thread. */
async function untilRunning(container: ServiceContainer): Promise<void> {
  while (container.activeWorkers === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 300));
}

beforeAll(async () => {
  await deleteQueue();
  client = await ClusterRpcProxy.connect(longGrace, { logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await client?.close();
  for (const container of cleanup) await container.stop();
  await deleteQueue();
});

describe('shutdown with a pool task running', () => {
  it('stop() within POOL.shutdown_grace: the task finishes and is answered', async () => {
    const container = await startService(longGrace);
    const call = client.offload_shutdown_svc!.busy(1_500);
    await untilRunning(container);
    const stopping = container.stop();
    await expect(call).resolves.toMatch(/^busy 1500 ms/);
    await stopping;
    expect(container.state).toBe('stopped');
  });

  it('stop() past the grace: the task is aborted unanswered and runs again after a restart', async () => {
    const container = await startService(shortGrace);
    let answered = false;
    const call = client.offload_shutdown_svc!.busy(3_000).finally(() => {
      answered = true;
    });
    await untilRunning(container);
    const stopStarted = performance.now();
    await container.stop();
    // Stopped at the grace, not after the 3 s of work; and no (error) reply went out.
    expect(performance.now() - stopStarted).toBeLessThan(2_500);
    expect(answered).toBe(false);
    expect(logs.some((l) => l.level === 40 && /offload_shutdown_svc\.busy was aborted: the service stopped .* not answered, handed back \(an RPC request is requeued/.test(l.msg))).toBe(true);

    // The same container, restarted, gets the request back and answers it.
    await container.start();
    await expect(call).resolves.toMatch(/^busy 3000 ms/);
    await container.stop();
  }, 15_000);

  it('kill(): the task is aborted unanswered; another instance answers it', async () => {
    const first = await startService(longGrace);
    let answered = false;
    const call = client.offload_shutdown_svc!.busy(2_000).finally(() => {
      answered = true;
    });
    await untilRunning(first);
    await first.kill();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(answered).toBe(false);

    const second = await startService(longGrace);
    await expect(call).resolves.toMatch(/^busy 2000 ms/);
    await second.stop();
  }, 15_000);
});
