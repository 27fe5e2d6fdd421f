// Process-wide notices of things worth counting that happen deep in the RPC layer and the
// worker pool: a redelivered request, a refused (malformed) request, a dropped reply, a
// pool task's wait and run times. Metrics (src/metrics/) listen; nothing else has to know.
//
// Emitting is a plain loop over a set that is empty unless metrics are on, so the places
// that emit pay nothing measurable; the pool asks `observingPoolTasks()` first, because
// timing a task costs one more message from its thread.

/** A countable event and the service it happened in (its name: a bounded label). */
export type ObservedEvent =
  /** An RPC request arrived with AMQP's `redelivered` flag set. */
  | { kind: 'redelivered'; service: string }
  /** An RPC request was refused before it ran; `reason` is the error's name (a bounded set). */
  | { kind: 'malformed'; service: string; reason: string }
  /** A reply was dropped: `late_or_duplicate` (caller side), `not_confirmed` (service side, the connection went). */
  | { kind: 'reply_dropped'; service: string; reason: 'late_or_duplicate' | 'not_confirmed' }
  /** A `@cpuBound` task ended: milliseconds it waited for a pool thread, and ran in one (undefined: never started). */
  | { kind: 'pool_task'; service: string; method: string; waitMs: number; runMs: number | undefined };

type Listener = (event: ObservedEvent) => void;

const listeners = new Set<Listener>();

/** Report an event to every listener (none unless metrics are on). A listener that throws is ignored. */
export function emitObserved(event: ObservedEvent): void {
  for (const listener of listeners) {
    try {
      listener(event);
    } catch {
      // Counting must never break the call it counts.
    }
  }
}

/** True while someone listens: the pool then asks its threads when each task starts. */
export function observingPoolTasks(): boolean {
  return listeners.size > 0;
}

/** Listen to every event of the process; returns the function that stops listening. */
export function onObserved(listener: Listener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}
