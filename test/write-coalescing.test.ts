// write-coalescing.ts on a real amqplib connection: the frames amqplib queues within one
// turn reach the socket as one writev, in order, and all arrive. The first test also
// guards the amqplib internals it patches: an amqplib release that moves them makes
// coalesceWrites return false and this file fail, rather than the bench quietly slowing.

import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { coalesceWrites } from '../src/transport/write-coalescing.js';
import { createVhost, type TestVhost } from './support/vhost.js';

let vhost: TestVhost;
beforeAll(() => {
  vhost = createVhost('coalesce');
});
afterAll(() => vhost.remove());

/** Counts the socket's single writes and its writevs (Node's stream calls one or the other). */
function countWrites(model: ChannelModel): { writes: number; writevs: number; chunks: number } {
  const socket = (model as unknown as { connection: { stream: { _write: Function; _writev: Function } } }).connection.stream;
  const counts = { writes: 0, writevs: 0, chunks: 0 };
  const write = socket._write;
  const writev = socket._writev;
  socket._write = function (this: unknown, ...args: unknown[]) {
    counts.writes++;
    return write.apply(this, args);
  };
  socket._writev = function (this: unknown, chunks: unknown[], ...rest: unknown[]) {
    counts.writevs++;
    counts.chunks += chunks.length;
    return writev.call(this, chunks, ...rest);
  };
  return counts;
}

async function publishBurst(coalesce: boolean, n: number): Promise<{ writes: number; writevs: number; chunks: number; received: number[] }> {
  const model = await amqp.connect(vhost.uri, { noDelay: true });
  try {
    if (coalesce) expect(coalesceWrites(model)).toBe(true);
    const ch = await model.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const counts = countWrites(model);
    // One turn: n publishes queued in amqplib's channel buffer, drained by its Mux at setImmediate.
    for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    const received: number[] = [];
    await new Promise<void>((resolve) => {
      void ch.consume(queue, (msg) => {
        if (!msg) return;
        received.push(Number(msg.content.toString()));
        if (received.length === n) resolve();
      }, { noAck: true });
    });
    return { ...counts, received };
  } finally {
    await model.close();
  }
}

it('sends one turn of frames as one writev, all of them, in order', async () => {
  const n = 40;
  const coalesced = await publishBurst(true, n);
  expect(coalesced.received).toEqual(Array.from({ length: n }, (_, i) => i));
  // The burst is one writev of its n frames (the consume that follows is a write of its own).
  expect(coalesced.writevs).toBeGreaterThanOrEqual(1);
  expect(coalesced.chunks).toBeGreaterThanOrEqual(n);
  expect(coalesced.writes).toBeLessThanOrEqual(3);
});

it('without it, amqplib writes the same burst frame by frame (what the patch saves)', async () => {
  const n = 40;
  const plain = await publishBurst(false, n);
  expect(plain.received).toHaveLength(n);
  expect(plain.writes).toBeGreaterThanOrEqual(n);
});

it('patches a connection once, however often it is asked', async () => {
  const model = await amqp.connect(vhost.uri, { noDelay: true });
  try {
    const mux = (model as unknown as { connection: { muxer: { _readIncoming: unknown } } }).connection.muxer;
    expect(coalesceWrites(model)).toBe(true);
    const patched = mux._readIncoming;
    expect(coalesceWrites(model)).toBe(true);
    expect(mux._readIncoming).toBe(patched);
  } finally {
    await model.close();
  }
});
