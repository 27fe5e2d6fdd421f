// The main thread's end of one call's dependency port: the call's injected dependency
// objects, served with comlink. A request `['other_rpc', 'hello']` with args `['x']` runs
// `dependencies.other_rpc.hello('x')` here, on the main thread, with `this` bound to
// `dependencies.other_rpc`, and its (awaited) result or error goes back to the thread.

import { expose } from 'comlink';
import type { MessagePort } from 'node:worker_threads';
import { installErrorTransfer, portEndpoint, type PortEndpoint } from '../../workers/comlink-bridge.js';

export class DependencyBridge {
  private readonly endpoint: PortEndpoint;

  /** `around` runs each request from the thread (inside the call's thread span, when traced). */
  constructor(
    private readonly port: MessagePort,
    dependencies: Record<string, unknown>,
    around?: (deliver: () => void) => void,
  ) {
    installErrorTransfer();
    this.endpoint = portEndpoint(port, around);
    expose(dependencies, this.endpoint);
  }

  /**
   * The call is over: serve what the thread sent before its outcome (see
   * workers/comlink-bridge.ts drain), then close. Answers to requests still in progress
   * (an un-awaited nested call) are dropped: nobody in the thread waits for them.
   */
  close(): void {
    this.endpoint.drain();
    this.port.close();
  }
}
