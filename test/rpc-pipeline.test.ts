// The RPC consumer's pipeline on the real broker: a call holds one of max_workers only while
// its method runs, and the queue's prefetch is max_workers + MAX_PENDING_REPLIES, so
// replies on their way to their confirm do not stop the next method from running. Requests
// delivered while every worker is busy wait in order, and a graceful stop hands those back
// to the queue instead of running them: another instance answers them, once each.

import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig, rpc, ServiceRunner, type ClusterClient } from '../src/index.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const started: Array<{ i: number; at: number }> = [];
let running = 0;
let mostRunning = 0;

class PipelineService {
  static name = 'pipeline_service';
  @rpc async work(i: number, ms: number) {
    started.push({ i, at: Date.now() });
    mostRunning = Math.max(mostRunning, ++running);
    try {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return i;
    } finally {
      running--;
    }
  }
}

let vhost: TestVhost;
let client: ClusterClient;
const silent = pino({ level: 'silent' });
const config = () => loadConfig({ AMQP_URI: vhost.uri, max_workers: 1, MAX_PENDING_REPLIES: 5, LOGGING: { level: 'silent' } });

function consumerPrefetch(): number[] {
  const out = execFileSync('rabbitmqctl', ['list_consumers', '-q', '-p', vhost.name, 'queue_name', 'prefetch_count'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([queue]) => queue === 'rpc-pipeline_service')
    .map(([, prefetch]) => Number(prefetch));
}

function queueCounts(): { ready: number; unacked: number } {
  const out = execFileSync('rabbitmqctl', ['list_queues', '-q', '-p', vhost.name, 'name', 'messages_ready', 'messages_unacknowledged'], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const [name, ready, unacked] = line.trim().split(/\s+/);
    if (name === 'rpc-pipeline_service') return { ready: Number(ready), unacked: Number(unacked) };
  }
  return { ready: -1, unacked: -1 };
}

beforeAll(async () => {
  vhost = createVhost('rpc-pipeline');
  client = await ClusterRpcProxy.connect(config(), { logger: silent, timeoutMs: 60_000 });
});

afterAll(async () => {
  await client?.close();
  vhost?.remove();
});

it('runs max_workers methods at once, holds up to max_workers + MAX_PENDING_REPLIES requests, and a stop hands the waiting ones to another instance', async () => {
  const first = new ServiceRunner(config(), { logger: silent });
  first.add(PipelineService);
  await first.start();
  expect(consumerPrefetch()).toEqual([6]);

  // The first call runs long enough to be seen running with the rest waiting (rabbitmqctl is slow under load).
  const calls = [0, 1, 2, 3].map((i) => client.pipeline_service.work(i, i === 0 ? 4000 : 200));
  // All four are delivered to the first instance (prefetch 6), one runs.
  const deadline = Date.now() + 20_000;
  let counts = queueCounts();
  while (!(counts.unacked === 4 && counts.ready === 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    counts = queueCounts();
  }
  expect(counts).toEqual({ ready: 0, unacked: 4 });
  expect(started.map((s) => s.i)).toEqual([0]);

  // Graceful stop: call 0 finishes and is answered; 1-3 go back to the queue unrun. The
  // queue holds exactly those three: call 0's ack reached the broker before the connection's
  // close (amqplib can write a connection close ahead of another channel's queued ack).
  await first.stop();
  expect(started.map((s) => s.i)).toEqual([0]);
  expect(queueCounts()).toEqual({ ready: 3, unacked: 0 });

  const second = new ServiceRunner(config(), { logger: silent });
  second.add(PipelineService);
  await second.start();
  try {
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3]);
    // Each ran once, one at a time, in order.
    expect(started.map((s) => s.i)).toEqual([0, 1, 2, 3]);
    expect(mostRunning).toBe(1);
  } finally {
    await second.stop();
  }
  expect(queueCounts()).toEqual({ ready: 0, unacked: 0 });
});

it('MAX_PENDING_REPLIES: 0 is nameko\'s prefetch of max_workers', async () => {
  const runner = new ServiceRunner(loadConfig({ AMQP_URI: vhost.uri, max_workers: 3, MAX_PENDING_REPLIES: 0, LOGGING: { level: 'silent' } }), { logger: silent });
  runner.add(PipelineService);
  await runner.start();
  try {
    expect(consumerPrefetch()).toEqual([3]);
    expect(await client.pipeline_service.work(9, 1)).toBe(9);
  } finally {
    await runner.stop();
  }
});
