// Acknowledgements of one consumer channel, coalesced: the acks asked for while one batch
// of frames from the socket is handled go out together, and a run of finished deliveries at the head of the
// channel's unacknowledged window is settled with ONE basic.ack (multiple=true) instead of
// one frame each.
//
// Why: under load the broker, not enoki, is what limits RPC throughput on a small machine
// (bench/rpc.ts: RabbitMQ spends about 4x the CPU of the service per call), and every
// basic.ack is a frame it parses and a queue process it messages. A request is still
// acknowledged only after its reply is confirmed: deferring an ack to the end of the
// current batch changes when the frame leaves, not what it promises.
//
// "The batch": amqplib handles every frame of one socket read synchronously (confirms
// included), and the acks are asked for in the promise continuations that follow; a
// process.nextTick scheduled by the first runs once those are done, so it sees them all.
// (setImmediate would see no more of them and cost the process one more event-loop
// iteration per batch: amqplib writes the frames on a setImmediate of its own.)
//
// Delivery tags on a channel rise by one per delivery, so the deliveries still owed an
// ack form an ordered window. A finished delivery behind an unfinished one (a long call
// at the head) is acknowledged on its own, at the same flush: holding it back for a
// multiple-ack would keep its prefetch slot taken for as long as the slow call runs.

import type { Channel, ConsumeMessage } from 'amqplib';

/** One delivery owed a settlement. */
interface Owed {
  readonly msg: ConsumeMessage;
  /** 'open': not settled yet; 'ack': ack asked for, not sent; 'sent': acked or nacked already. */
  state: 'open' | 'ack' | 'sent';
}

/** Coalesces the acks of one channel (see the file comment). One per consumer channel. */
export class AckBatcher {
  /** Deliveries not yet known to be settled, in delivery-tag order; `head` is the first live one. */
  private window: Owed[] = [];
  private head = 0;
  /** Acks asked for since the last flush. */
  private asked = 0;
  private scheduled = false;

  constructor(private readonly channel: Channel) {}

  /** A delivery arrived: it is owed a settlement. Returns its handle for ack()/nack(). */
  track(msg: ConsumeMessage): Owed {
    const owed: Owed = { msg, state: 'open' };
    this.window.push(owed);
    return owed;
  }

  /** Acknowledge once the current batch of frames is handled (with the other acks asked for meanwhile). */
  ack(owed: Owed): void {
    if (owed.state !== 'open') return;
    owed.state = 'ack';
    this.asked++;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => {
        try {
          this.flush();
        } catch {
          /* the channel closed under us: the broker has requeued what it had not been told */
        }
      });
    }
  }

  /**
   * Negative-acknowledge now. Acks asked for earlier go first, so the broker sees the
   * settlements in the order they were decided.
   */
  nack(owed: Owed, requeue: boolean): void {
    if (owed.state !== 'open') return;
    this.flush();
    owed.state = 'sent';
    this.channel.nack(owed.msg, false, requeue);
  }

  /**
   * Send the acks asked for: one multiple-ack for the finished run at the head of the
   * window, single acks for finished deliveries behind an open one. Throws what the
   * channel throws (closed under us); the callers treat that as "requeued by the broker".
   * Returns true when it sent anything.
   */
  flush(): boolean {
    this.scheduled = false;
    if (this.asked === 0) return false;
    this.asked = 0;
    const { window } = this;
    // The finished run at the head: everything up to `last` is settled by one frame.
    let last: Owed | undefined;
    let i = this.head;
    for (; i < window.length && window[i]!.state !== 'open'; i++) {
      if (window[i]!.state === 'ack') last = window[i];
    }
    // multiple=true settles every unacknowledged tag up to `last`'s: the 'sent' ones among
    // them are no longer outstanding at the broker, so only the asked-for ones are acked.
    if (last) this.channel.ack(last.msg, true);
    for (let j = this.head; j < i; j++) window[j]!.state = 'sent';
    this.head = i;
    for (let j = i; j < window.length; j++) {
      const owed = window[j]!;
      if (owed.state !== 'ack') continue;
      owed.state = 'sent';
      this.channel.ack(owed.msg, false);
    }
    // Drop the settled head now and then, not at every flush (a shift per ack is O(n)).
    if (this.head > 1024 && this.head * 2 > window.length) {
      this.window = window.slice(this.head);
      this.head = 0;
    }
    return true;
  }
}
