// What an extension (an entrypoint or a dependency provider) sees of the container that
// runs it. ServiceContainer implements it; entrypoints and providers are written against
// this interface only, so the container imports none of them and none of them imports the
// container (nameko's split between containers.py and extensions.py).
//
// Types only: importing this file loads nothing.

import type { Logger } from 'pino';
import type { EnokiConfig } from './config.js';
import type { ContextData } from './context-headers.js';
import type { MethodDefinition, ServiceDefinition } from './service-definition.js';
import type { Transport } from './transport/transport.js';
import type { EntrypointKind, WorkerContext } from './worker-context.js';

/**
 * How one call ended, as spawnWorker resolves it, and as onWorkerDone listeners and
 * enoki/testing's entrypointWaiter see it, once its teardown hooks have run.
 */
export interface WorkerOutcome {
  /** The call's worker context. */
  ctx: WorkerContext;
  /** What the method returned (undefined when it threw). */
  result: unknown;
  /** What the method threw (or the error that kept it from running, such as a failed getDependency); undefined on success. */
  error: Error | undefined;
  /** Milliseconds the call waited for one of max_workers slots before it began (0: one was free). */
  slotWaitMs?: number;
}

/** How an entrypoint starts a call: who it is, what context it carries, how it answers. */
export interface SpawnOptions {
  /** The entrypoint kind, recorded on the worker context (`ctx.entrypoint`). */
  entrypoint: EntrypointKind;
  /** `nameko.*` context data the call arrived with. */
  contextData?: ContextData;
  /** The caller's call id stack; this call's id is appended to it. */
  parentCallIdStack?: readonly string[];
  /**
   * The headers of the incoming message or HTTP request, read for its trace context
   * (`traceparent`, `tracestate`) when OpenTelemetry tracing is on; not read otherwise.
   */
  traceHeaders?: Readonly<Record<string, unknown>>;
  /**
   * Attributes of the entrypoint's kind for the call's span (HTTP: `http.request.method`,
   * `http.route`, `url.path`...), when tracing is on. Build them only then (`tracingOn()`).
   */
  traceAttributes?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Milliseconds the entrypoint already held the call waiting for a worker (the RPC
   * consumer queues deliveries while every worker is busy); added to `slotWaitMs`.
   */
  waitedMs?: number;
  /**
   * The entrypoint's answer (RPC reply, HTTP response, event ack), run after the method
   * and before workerResult hooks. An error thrown here is logged; the call still ends.
   */
  handleResult?: (ctx: WorkerContext, result: unknown, error: Error | undefined) => Promise<void> | void;
}

/**
 * Where a container is in its life: `'created'`, `'starting'`, `'running'`, `'stopping'`,
 * `'stopped'` (after a graceful stop; it can be started again), or `'killed'` (after a
 * forced stop).
 */
export type ContainerState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'killed';

/** The container, as entrypoints and dependency providers use it. */
export interface ExtensionHost {
  /** The service's name (`static name`). */
  readonly serviceName: string;
  /** The service class read once: its marked methods and dependency fields. */
  readonly definition: ServiceDefinition;
  readonly config: EnokiConfig;
  /** A child logger bound to the service name. */
  readonly logger: Logger;
  readonly state: ContainerState;
  /** The container's broker connection (AMQP or memory://), opened on first use. */
  getTransport(): Promise<Transport>;
  /**
   * A per-container singleton shared by extensions (the reply queue every RpcProxy of a
   * service shares, one publisher for every EventDispatcher), made on first request.
   */
  sharedExtension<T>(key: string, make: () => T): T;
  /**
   * Run one call of `method` through the worker path: a max_workers slot, a fresh service
   * instance with its dependencies injected, workerSetup hooks, the method (inline, or in
   * the worker pool for @cpuBound), `handleResult`, workerResult and workerTeardown hooks.
   * Resolves with the outcome; never rejects because the method threw.
   */
  spawnWorker(method: MethodDefinition, args: unknown[], options: SpawnOptions): Promise<WorkerOutcome>;
}
