// Counts concurrent calls per container (max_workers). RPC deliveries are already bounded
// by the consumer's prefetch; this bound also holds for HTTP and direct calls.

export class Semaphore {
  private available: number;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    this.available = size;
  }

  /** A release function if a slot is free now, else undefined: the hot path, no promise. */
  tryAcquire(): (() => void) | undefined {
    if (this.available <= 0) return undefined;
    this.available--;
    return this.releaser();
  }

  /** Resolves with a release function once a slot is free. Release exactly once. */
  acquire(): Promise<() => void> {
    if (this.available > 0) {
      this.available--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(this.releaser())));
  }

  get pending(): number {
    return this.waiting.length;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.available++;
    };
  }
}
