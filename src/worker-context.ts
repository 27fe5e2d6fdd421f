// What one call ("worker" in nameko's terms) knows about itself. Dependencies read it in
// their hooks; RpcProxy reads it to pass the call id stack and context data on to
// nested calls.

import { randomUUID } from 'node:crypto';
import { capCallIdStack, type ContextData } from './rpc/wire.js';

export type EntrypointKind = 'rpc' | 'http' | 'direct';

export interface WorkerContextInit {
  serviceName: string;
  methodName: string;
  entrypoint: EntrypointKind;
  args: readonly unknown[];
  contextData?: ContextData;
  /** The caller's call id stack, from the request headers. */
  parentCallIdStack?: readonly string[];
  parentCallsTracked: number;
}

export class WorkerContext {
  readonly serviceName: string;
  readonly methodName: string;
  readonly entrypoint: EntrypointKind;
  /** Positional arguments after kwargs were bound to parameter names. */
  readonly args: readonly unknown[];
  /** `nameko.*` headers without the prefix: language, user_id, auth_token, any custom key. */
  readonly contextData: ContextData;
  /** `<service>.<method>.<uuid>`, unique per call. */
  readonly callId: string;
  /** Ancestors' call ids then this one, oldest first, capped at parent_calls_tracked + 1. */
  readonly callIdStack: readonly string[];
  readonly startedAt: number;

  constructor(init: WorkerContextInit) {
    this.serviceName = init.serviceName;
    this.methodName = init.methodName;
    this.entrypoint = init.entrypoint;
    this.args = init.args;
    this.contextData = { ...(init.contextData ?? {}) };
    this.callId = `${init.serviceName}.${init.methodName}.${randomUUID()}`;
    this.callIdStack = capCallIdStack([...(init.parentCallIdStack ?? []), this.callId], init.parentCallsTracked);
    this.startedAt = performance.now();
  }

  /** The call id of whoever called this one, if it was an enoki or nameko call. */
  get immediateParentCallId(): string | undefined {
    return this.callIdStack.length > 1 ? this.callIdStack[this.callIdStack.length - 2] : undefined;
  }

  get originCallId(): string {
    return this.callIdStack[0] ?? this.callId;
  }
}
