// One write to the socket per event-loop turn instead of one per frame.
//
// amqplib queues every frame (a publish, an ack, a confirm-mode method) in its channel's
// buffer and, on the next setImmediate, its Mux copies the buffered chunks to the socket
// one `socket.write()` at a time. Node writes an uncorked socket at once, so a turn that
// answers sixteen requests makes sixteen reply writes and the acks' writes: a syscall and,
// usually, a TCP segment each, which the broker must read one by one too. Corking the
// socket while the Mux drains its channels sends the same bytes, in the same order, as one
// `writev`: the service and the caller spend less CPU in the kernel and the broker (the
// bottleneck on a small machine) handles fewer, larger segments. A lone call is unchanged:
// its turn has one chunk. This is the pipelining a hand-written loop does not do.
//
// A large frame (a body frame of a big message) is not held back: the frames before it go
// out, then it is written at once, as amqplib would. Held in the cork, it would fill the
// socket's buffer past its high-water mark, the Mux would wait for 'drain', and a 1 MB
// message would leave one frame per event-loop iteration.
//
// The Mux is amqplib's internal (lib/mux.js, `connection.muxer`): if a release changes it,
// nothing is patched and amqplib writes as it always did (coalesceWrites returns false).

import type { ChannelModel } from 'amqplib';

/** The parts of amqplib's internal Mux this relies on. */
interface MuxLike {
  _readIncoming: () => void;
  out: SocketLike;
}

/** The socket, as far as corking needs it. */
interface SocketLike {
  cork?: () => void;
  uncork?: () => void;
  write(chunk: Buffer): boolean;
}

/** Frames from this size on are written at once, not gathered (the socket's default high-water mark). */
const LARGE_FRAME = 16 * 1024;

const patched = new WeakSet<object>();

/**
 * Make the connection behind `model` write each turn's frames to its socket in one go.
 * Returns whether it could (false: amqplib's internals are not what this expects).
 */
export function coalesceWrites(model: ChannelModel): boolean {
  const mux = (model as unknown as { connection?: { muxer?: unknown } }).connection?.muxer as MuxLike | undefined;
  if (!mux || typeof mux._readIncoming !== 'function' || typeof mux.out?.cork !== 'function' || typeof mux.out.uncork !== 'function') return false;
  if (patched.has(mux)) return true;
  patched.add(mux);
  const drain = mux._readIncoming;
  const socket = mux.out as Required<SocketLike>;
  // What the Mux writes to while it drains: small frames gather in the cork, a large one
  // flushes them and goes straight out.
  const gathering: SocketLike = {
    write(chunk: Buffer): boolean {
      if (chunk.length < LARGE_FRAME) return socket.write(chunk);
      socket.uncork();
      try {
        return socket.write(chunk);
      } finally {
        socket.cork();
      }
    },
  };
  mux._readIncoming = function readIncomingCorked(this: MuxLike): void {
    socket.cork();
    this.out = gathering;
    try {
      drain.call(this);
    } finally {
      this.out = socket;
      // Writes everything gathered above as one writev, in order.
      socket.uncork();
    }
  };
  return true;
}
