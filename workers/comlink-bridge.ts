// comlink over a worker_threads MessagePort, for dependency calls from a pool thread to
// the main thread. Used on both sides of the port.
//
// Two things comlink does not do for us:
//  - drain(): the main thread closes a call's port when the call's outcome arrives on
//    parentPort. Messages on two ports have no order between them, so requests the method
//    sent just before returning (an un-awaited `this.log.info(...)`) may still sit in the
//    port's queue; drain() hands them to comlink synchronously first, so they are served
//    rather than dropped.
//  - errors: comlink sends a thrown Error as {message, name, stack}. enoki's errors carry
//    their meaning in more fields (code, excType, value, ...), which a method catching a
//    failed `await this.other_rpc.x()` in a thread should still see.

import { transferHandlers, type Endpoint, type TransferHandler } from 'comlink';
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { EnokiError } from '../src/errors.js';
import { cloneFailureReason } from '../src/thrown-values.js';

export interface PortEndpoint extends Endpoint {
  /** Deliver every message already queued on the port, now. */
  drain(): void;
}

// comlink's types come from the DOM lib, which a Node project does not load.
type Listener = Parameters<Endpoint['addEventListener']>[1];
type Transfer = Parameters<Endpoint['postMessage']>[1];
type ThrowSerialized = { isError: boolean; value: Record<string, unknown> };

/**
 * comlink's endpoint on `port`. `around`, when given, runs each delivery of a message (on
 * the main thread: inside the call's trace context, so the dependency call it makes is a
 * child of the call's thread span).
 */
export function portEndpoint(port: MessagePort, around?: (deliver: () => void) => void): PortEndpoint {
  const listeners = new Set<Listener>();
  const dispatch = (data: unknown): void => {
    // comlink reads only `data` (and `origin`, which it allows to be anything by default).
    const event = { data } as Parameters<Extract<Listener, Function>>[0];
    for (const listener of listeners) {
      if (typeof listener === 'function') listener(event);
      else listener.handleEvent(event);
    }
  };
  const deliver = around ? (data: unknown): void => around(() => dispatch(data)) : dispatch;
  port.on('message', deliver);
  return {
    postMessage: (message: unknown, transfer?: Transfer) => {
      try {
        port.postMessage(message, transfer as never);
      } catch (err) {
        // A dependency call whose arguments cannot be cloned (a callback, say
        // `this.db.transaction(async (tx) => ...)`): say which call, with a code, instead
        // of a bare DataCloneError. comlink posts inside a promise, so the call rejects.
        if ((err as Error)?.name !== 'DataCloneError') throw err;
        const path = (message as { path?: unknown }).path;
        const call = Array.isArray(path) && path.length > 0 ? `this.${path.join('.')}()` : 'a dependency call';
        throw new EnokiError('ENOKI_ERR_NOT_CLONEABLE', ['an argument', `${call} from a pool thread`, `${cloneFailureReason((err as Error).message)} (only plain data crosses to the main thread's dependency)`], { cause: err });
      }
    },
    addEventListener: (_type: string, listener: Listener) => void listeners.add(listener),
    removeEventListener: (_type: string, listener: Listener) => void listeners.delete(listener),
    drain() {
      for (let entry = receiveMessageOnPort(port); entry !== undefined; entry = receiveMessageOnPort(port)) deliver(entry.message);
    },
  };
}

// Own fields of enoki errors worth carrying (see src/errors.ts); all plain data.
const ERROR_FIELDS = ['code', 'retryable', 'excType', 'value', 'excPath', 'excArgs', 'remoteStack', 'serviceName', 'timeoutMs'] as const;

let installed = false;

/**
 * Make comlink carry the extra fields of a thrown error (and, where `prototypes` knows
 * the error's name, rebuild it with that prototype so `instanceof` works on the other
 * side). A superset of comlink's own handler: other comlink users in the process see the
 * same {message, name, stack} as before, plus fields.
 */
export function installErrorTransfer(prototypes: Readonly<Record<string, object>> = {}): void {
  if (installed) return;
  installed = true;
  const original = transferHandlers.get('throw')! as TransferHandler<{ value: unknown }, ThrowSerialized>;
  const extended: TransferHandler<{ value: unknown }, ThrowSerialized> = {
    canHandle: original.canHandle,
    serialize(thrown) {
      const [serialized, transfer] = original.serialize(thrown);
      const value = thrown.value;
      if (serialized.isError && value instanceof Error) {
        for (const field of ERROR_FIELDS) {
          const v = (value as unknown as Record<string, unknown>)[field];
          if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
          serialized.value[field] = field === 'excArgs' && Array.isArray(v) ? v.map(String) : v;
        }
      }
      return [serialized, transfer];
    },
    deserialize(serialized) {
      try {
        return original.deserialize(serialized);
      } catch (err) {
        const proto = serialized.isError ? prototypes[String(serialized.value.name)] : undefined;
        if (proto && err instanceof Error) Object.setPrototypeOf(err, proto);
        throw err;
      }
    },
  };
  transferHandlers.set('throw', extended as TransferHandler<unknown, unknown>);
}
