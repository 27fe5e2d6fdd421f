// The join logic of the RPC consumer without touching the broker: a redelivery of a call
// still running here (same correlation id and reply_to, `redelivered` set) joins it, so
// the method runs once, one reply is published, and the delivery acknowledged is the
// latest one (the first one's channel is gone on RabbitMQ, its ack would be lost). A
// publisher cannot set `redelivered`, so the test hands the consumer a redelivered copy of
// the request it received, on the memory transport. The same on RabbitMQ, with the broker
// taking the request back for real, is test/faults/redelivery-join.test.ts.

import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { ClusterRpcProxy, loadConfig, rpc, ServiceRunner, type ClusterClient } from '../src/index.js';
import { MemoryTransport, resetMemoryBroker } from '../src/transport/memory-transport.js';
import type { InboundMessage } from '../src/transport/transport.js';
import { captureLogs } from './helpers/log-capture.js';

let executions = 0;
let release: () => void = () => undefined;

class Joined {
  static name = 'joined';

  @rpc
  async work(label: string): Promise<string> {
    executions++;
    await new Promise<void>((resolve) => (release = resolve));
    return `done ${label}`;
  }
}

/** A delivery as the consumer saw it, with its settlements counted. */
interface Seen {
  message: InboundMessage;
  acks: number;
  nacks: number;
}

const VHOST = 'rpc-redelivery-join';
let runner: ServiceRunner;
let client: ClusterClient;
let deliver: (message: InboundMessage) => void;
const seen: Seen[] = [];
const replies: string[] = [];
let logs = captureLogs('info');
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function waitFor(what: string, check: () => boolean): Promise<void> {
  const until = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** `message` again, as the broker would redeliver it, its settlements counted too. */
function redelivery(of: InboundMessage): Seen {
  const copy: Seen = {
    acks: 0,
    nacks: 0,
    message: {
      ...of,
      body: Buffer.from(of.body),
      redelivered: true,
      ack: () => void copy.acks++,
      nack: () => void copy.nacks++,
      publishOnChannel: undefined,
    },
  };
  return copy;
}

beforeEach(async () => {
  logs = captureLogs('info');
  executions = 0;
  seen.length = 0;
  replies.length = 0;
  resetMemoryBroker(VHOST);
  // Every delivery to the service queue goes through here: counted, and its handler kept so
  // the test can hand the consumer a redelivery.
  const consume = MemoryTransport.prototype.consume;
  vi.spyOn(MemoryTransport.prototype, 'consume').mockImplementation(function (this: MemoryTransport, spec, onMessage) {
    if (spec.queue.name !== 'rpc-joined') return consume.call(this, spec, onMessage);
    deliver = onMessage;
    return consume.call(this, spec, (message) => {
      const entry: Seen = { message, acks: 0, nacks: 0 };
      seen.push(entry);
      onMessage({
        ...message,
        ack: () => {
          entry.acks++;
          message.ack();
        },
        nack: (requeue) => {
          entry.nacks++;
          message.nack(requeue);
        },
      });
    });
  });
  const publish = MemoryTransport.prototype.publish;
  vi.spyOn(MemoryTransport.prototype, 'publish').mockImplementation(function (this: MemoryTransport, exchange, routingKey, body, options, waitMs) {
    // Replies go to the caller's reply_to; requests to 'joined.<method>'.
    if (routingKey === seen[0]?.message.properties.replyTo) replies.push(options.correlationId ?? '');
    return publish.call(this, exchange, routingKey, body, options, waitMs);
  });
  const config = loadConfig({ AMQP_URI: `memory://${VHOST}`, LOGGING: { level: 'info' } });
  runner = new ServiceRunner(config, { logger: logs.logger });
  runner.add(Joined);
  await runner.start();
  client = await ClusterRpcProxy.connect(config, { timeoutMs: 10_000, logger: logs.logger });
});

afterEach(async () => {
  release();
  await client?.close();
  await runner?.stop();
  vi.restoreAllMocks();
  resetMemoryBroker(VHOST);
});

it('a redelivery of a running call joins it: one execution, one reply, the latest delivery acknowledged', async () => {
  const call = client.joined!.work('once') as Promise<string>;
  await waitFor('the call to start', () => executions === 1);
  const first = seen[0]!;
  const again = redelivery(first.message);
  deliver(again.message);
  for (let i = 0; i < 10; i++) await tick();
  expect(logs.has('joins it instead of starting it again')).toBe(true);
  expect(executions).toBe(1);
  expect(again.acks + again.nacks).toBe(0); // held until the call ends

  release();
  expect(await call).toBe('done once');
  await waitFor('the redelivery to be acknowledged', () => again.acks === 1);
  expect(executions).toBe(1);
  expect(replies).toEqual([first.message.properties.correlationId]);
  // The first delivery is not settled: on RabbitMQ its channel is gone with it.
  expect(first.acks + first.nacks).toBe(0);
  expect(again.nacks).toBe(0);
});

it('a redelivery of a call that has already finished runs again (the reply may have been lost)', async () => {
  const call = client.joined!.work('first') as Promise<string>;
  await waitFor('the call to start', () => executions === 1);
  release();
  expect(await call).toBe('done first');
  await waitFor('the request to be acknowledged', () => seen[0]!.acks === 1);

  const again = redelivery(seen[0]!.message);
  deliver(again.message);
  await waitFor('the redelivery to run', () => executions === 2);
  release();
  await waitFor('the redelivery to be acknowledged', () => again.acks === 1);
  expect(replies).toHaveLength(2);
  expect(logs.has('joins it instead of starting it again')).toBe(false);
});

it('a copy without the redelivered flag (same correlation id) is not joined: it runs as a call of its own', async () => {
  const call = client.joined!.work('twice') as Promise<string>;
  await waitFor('the call to start', () => executions === 1);
  const firstRelease = release;
  const copy = redelivery(seen[0]!.message);
  deliver({ ...copy.message, redelivered: false });
  await waitFor('the copy to run', () => executions === 2);
  firstRelease();
  release();
  expect(await call).toBe('done twice');
  await waitFor('both replies', () => replies.length === 2);
  expect(logs.has('joins it instead of starting it again')).toBe(false);
});
