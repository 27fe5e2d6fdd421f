// The contract between the container and whatever runs its @cpuBound methods off the main
// event loop (pool-executor.ts, or a test's stand-in passed as ContainerOptions.offload).
// Types only.

import type { ExtensionHost } from '../extension-host.js';
import type { MethodDefinition } from '../service-definition.js';
import type { WorkerContext } from '../worker-context.js';

/** Runs a `@cpuBound` method somewhere other than the main event loop. */
export interface OffloadExecutor {
  run(request: OffloadRequest): Promise<unknown>;
  /** Graceful: let running tasks finish (up to graceMs). Otherwise abort them now. */
  close(graceful: boolean, graceMs: number): Promise<void>;
}

/** One @cpuBound call. */
export interface OffloadRequest {
  ctx: WorkerContext;
  method: MethodDefinition;
  args: unknown[];
  /** What each dependency field holds for this call, by field name. */
  dependencies: Record<string, unknown>;
}

/** What the pool executor needs of a container: the host, plus where pool threads find the class. */
export interface OffloadHost extends ExtensionHost {
  readonly options: {
    /** The module that exports the service class (a path or file: URL). */
    readonly module?: string;
    /** The export name of the class in `module`. */
    readonly exportName?: string;
  };
}
