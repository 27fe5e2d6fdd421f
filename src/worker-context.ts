// What one call ("worker" in nameko's terms) knows about itself. Dependencies read it in
// their hooks; RpcProxy and EventDispatcher read it to pass the call id stack and context
// data on to the calls and events they send.

import { randomUUID } from 'node:crypto';
import { capCallIdStack, type ContextData } from './context-headers.js';

/**
 * Which kind of entrypoint started the call: the built-in kinds, 'direct' for
 * enoki/testing's entrypointHook, or the name of a user-written kind (see defineEntrypoint).
 */
export type EntrypointKind = 'rpc' | 'http' | 'event' | 'timer' | 'direct' | (string & {});

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
  readonly startedAt: number;
  readonly #parentCallIdStack: readonly string[] | undefined;
  readonly #parentCallsTracked: number;
  #callId: string | undefined;
  #callIdStack: readonly string[] | undefined;

  constructor(init: WorkerContextInit) {
    this.serviceName = init.serviceName;
    this.methodName = init.methodName;
    this.entrypoint = init.entrypoint;
    this.args = init.args;
    this.contextData = init.contextData === undefined ? {} : { ...init.contextData };
    this.startedAt = performance.now();
    this.#parentCallIdStack = init.parentCallIdStack;
    this.#parentCallsTracked = init.parentCallsTracked;
  }

  // The call id and its stack are made when first read (by an RPC proxy passing them on,
  // a log line, a dependency): most HTTP requests and many RPC calls never read them, and
  // a uuid plus two arrays per call was a measurable share of a small handler's cost.

  /** `<service>.<method>.<uuid>`, unique per call. */
  get callId(): string {
    return (this.#callId ??= `${this.serviceName}.${this.methodName}.${randomUUID()}`);
  }

  /** Ancestors' call ids then this one, oldest first, capped at parent_calls_tracked + 1. */
  get callIdStack(): readonly string[] {
    return (this.#callIdStack ??= capCallIdStack([...(this.#parentCallIdStack ?? []), this.callId], this.#parentCallsTracked));
  }

  /** The call id of whoever called this one, if it was an enoki or nameko call. */
  get immediateParentCallId(): string | undefined {
    const stack = this.callIdStack;
    return stack.length > 1 ? stack[stack.length - 2] : undefined;
  }

  get originCallId(): string {
    return this.callIdStack[0] ?? this.callId;
  }

  /** The call id and stack are getters: this keeps them in a logged or serialized context. */
  toJSON(): Record<string, unknown> {
    const { serviceName, methodName, entrypoint, args, contextData, callId, callIdStack, startedAt } = this;
    return { serviceName, methodName, entrypoint, args, contextData, callId, callIdStack, startedAt };
  }
}
