// The ack batcher (src/transport/ack-batcher.ts) against a recording channel: what it
// sends, in what order. Whether the broker accepts it is covered on the real broker by
// test/rpc-pipeline.test.ts.

import type { Channel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AckBatcher } from '../src/transport/ack-batcher.js';

type Frame = ['ack' | 'nack', number, boolean, boolean?];

function recorder(): { channel: Channel; frames: Frame[] } {
  const frames: Frame[] = [];
  const channel = {
    ack: (msg: ConsumeMessage, allUpTo = false) => frames.push(['ack', msg.fields.deliveryTag, allUpTo]),
    nack: (msg: ConsumeMessage, allUpTo = false, requeue = true) => frames.push(['nack', msg.fields.deliveryTag, allUpTo, requeue]),
  } as unknown as Channel;
  return { channel, frames };
}

const delivery = (tag: number): ConsumeMessage => ({ fields: { deliveryTag: tag } }) as unknown as ConsumeMessage;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('AckBatcher', () => {
  it('settles a finished run at the head of the window with one multiple-ack, at the end of the turn', async () => {
    const { channel, frames } = recorder();
    const acks = new AckBatcher(channel);
    const owed = [1, 2, 3, 4].map((tag) => acks.track(delivery(tag)));
    for (const o of owed) acks.ack(o);
    expect(frames).toEqual([]);
    await nextTurn();
    expect(frames).toEqual([['ack', 4, true]]);
  });

  it('acks a finished delivery behind an open one on its own, and never covers the open one', async () => {
    const { channel, frames } = recorder();
    const acks = new AckBatcher(channel);
    const [a, b, c, d] = [1, 2, 3, 4].map((tag) => acks.track(delivery(tag)));
    acks.ack(a!);
    acks.ack(c!);
    acks.ack(d!);
    await nextTurn();
    expect(frames).toEqual([
      ['ack', 1, true],
      ['ack', 3, false],
      ['ack', 4, false],
    ]);
    // The slow one finishes: only it is left to settle; 3 and 4 are not acked twice.
    acks.ack(b!);
    await nextTurn();
    expect(frames.slice(3)).toEqual([['ack', 2, true]]);
  });

  it('sends the acks asked for before a nack, then the nack at once', async () => {
    const { channel, frames } = recorder();
    const acks = new AckBatcher(channel);
    const [a, b] = [7, 8].map((tag) => acks.track(delivery(tag)));
    acks.ack(a!);
    acks.nack(b!, true);
    expect(frames).toEqual([
      ['ack', 7, true],
      ['nack', 8, false, true],
    ]);
    await nextTurn();
    expect(frames).toHaveLength(2);
  });

  it('settles each delivery once, however often it is asked', async () => {
    const { channel, frames } = recorder();
    const acks = new AckBatcher(channel);
    const a = acks.track(delivery(1));
    acks.ack(a);
    acks.ack(a);
    acks.nack(a, false);
    await nextTurn();
    expect(frames).toEqual([['ack', 1, true]]);
  });

  it('keeps working over a long window (the settled head is dropped now and then)', async () => {
    const { channel, frames } = recorder();
    const acks = new AckBatcher(channel);
    const slow = acks.track(delivery(1));
    for (let tag = 2; tag <= 5000; tag++) acks.ack(acks.track(delivery(tag)));
    await nextTurn();
    expect(frames).toHaveLength(4999);
    expect(frames.every(([, , multiple]) => multiple === false)).toBe(true);
    acks.ack(slow);
    for (let tag = 5001; tag <= 8000; tag++) acks.ack(acks.track(delivery(tag)));
    await nextTurn();
    // One frame for the slow head plus everything behind it that was still open.
    expect(frames.slice(4999)).toEqual([['ack', 8000, true]]);
  });
});
