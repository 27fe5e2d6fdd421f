// Callers that need the connection (a publish, a consume, an exchange declaration) while
// it is down or being set up wait here, until it is back, a deadline passes, or the
// transport is closed.

import { EnokiError } from '../errors.js';

/** The waiting room for "a publish channel is up". */
export class ConnectionWaiters {
  private readonly waiters = new Set<() => void>();

  /**
   * @param displayUri - the masked URI, for the errors.
   * @param state - whether the connection is ready, and whether the transport was closed.
   */
  constructor(
    private readonly displayUri: string,
    private readonly state: () => { ready: boolean; closed: boolean },
  ) {}

  /** Resolves once ready; rejects at `deadline` (epoch ms; Infinity = none) or when closed. */
  wait(deadline: number): Promise<void> {
    const { ready, closed } = this.state();
    if (ready) return Promise.resolve();
    if (closed) return Promise.reject(this.closedError());
    const started = Date.now();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.waiters.delete(done);
        if (this.state().closed) reject(this.closedError());
        else resolve();
      };
      this.waiters.add(done);
      if (Number.isFinite(deadline)) {
        timer = setTimeout(
          () => {
            this.waiters.delete(done);
            reject(new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, `still not reconnected after ${Date.now() - started} ms`]));
          },
          Math.max(0, deadline - Date.now()),
        );
      }
    });
  }

  /** Wake every waiter: the connection is ready, or the transport closed (they reject). */
  wake(): void {
    for (const done of [...this.waiters]) done();
  }

  private closedError(): EnokiError {
    return new EnokiError('ENOKI_ERR_DISCONNECTED', [this.displayUri, 'the transport was closed']);
  }
}
