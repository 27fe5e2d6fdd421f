// What one call ("worker" in nameko's terms) knows about itself. Dependencies read it in
// their hooks; RpcProxy and EventDispatcher read it to pass the call id stack and context
// data on to the calls and events they send.

import { redactArgs, type SensitivePath } from './redaction.js';
import { randomUUID } from 'node:crypto';
import { capCallIdStack, type ContextData } from './context-headers.js';

/**
 * How a call arrived: `'rpc'` (an AMQP request), `'http'` (a request to an `@http` route),
 * `'event'` (an `@eventHandler`), `'timer'` (a `@timer` tick), `'direct'` (enoki/testing's
 * entrypointHook, no message at all), or the name of a user-written kind (see
 * defineEntrypoint).
 */
export type EntrypointKind = 'rpc' | 'http' | 'event' | 'timer' | 'direct' | (string & {});

/**
 * What a {@link WorkerContext} is made from. The container makes one per call; a test
 * can make one to drive a dependency provider's hooks by hand.
 */
export interface WorkerContextInit {
  /** The service's name. */
  serviceName: string;
  /** The method's property name on the class (not its RPC name). */
  methodName: string;
  /** How the call arrived. */
  entrypoint: EntrypointKind;
  /** Positional arguments, kwargs already bound to parameter names. */
  args: readonly unknown[];
  /** The call's context data (copied); default: none. */
  contextData?: ContextData;
  /** The caller's call id stack, from the request headers. */
  parentCallIdStack?: readonly string[];
  /** Parent call ids the call id stack keeps (the config's `parent_calls_tracked`). */
  parentCallsTracked: number;
  /** The method's parameter names and its sensitive argument paths, for `redactedArgs`. */
  sensitive?: { readonly params: readonly string[]; readonly paths: readonly SensitivePath[] };
}

/**
 * What one call (a "worker", in nameko's terms) knows about itself: its service and
 * method, how it arrived, its arguments, its call id and call id stack, and its context
 * data. Dependency providers receive it in every hook; RpcProxy passes its call id stack
 * and context data on to the calls the method makes.
 */
export class WorkerContext {
  /** The service's name. */
  readonly serviceName: string;
  /** The method's property name on the class. */
  readonly methodName: string;
  /** How the call arrived. */
  readonly entrypoint: EntrypointKind;
  /** Positional arguments after kwargs were bound to parameter names. */
  readonly args: readonly unknown[];
  /** `nameko.*` headers without the prefix: language, user_id, auth_token, any custom key. */
  readonly contextData: ContextData;
  /** `performance.now()` when the call began, in milliseconds: for elapsed times. */
  readonly startedAt: number;
  readonly #parentCallIdStack: readonly string[] | undefined;
  readonly #parentCallsTracked: number;
  readonly #sensitive: WorkerContextInit['sensitive'];
  #redacted: readonly unknown[] | undefined;
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
    this.#sensitive = init.sensitive;
  }

  /**
   * The arguments with the entrypoint's `sensitiveArguments` masked (`'********'`): what
   * to log. `args` is what the method receives. Made on first read; the same array as
   * `args` when nothing is sensitive.
   */
  get redactedArgs(): readonly unknown[] {
    if (!this.#sensitive) return this.args;
    this.#redacted ??= redactArgs(this.args, this.#sensitive.params, this.#sensitive.paths);
    return this.#redacted;
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

  /** The call id at the root of the chain: the oldest id kept in the stack. */
  get originCallId(): string {
    return this.callIdStack[0] ?? this.callId;
  }

  /** The call id and stack are getters: this keeps them in a logged or serialized context. */
  toJSON(): Record<string, unknown> {
    // A logged or serialized context shows the redacted arguments, never the sensitive ones.
    const { serviceName, methodName, entrypoint, redactedArgs: args, contextData, callId, callIdStack, startedAt } = this;
    return { serviceName, methodName, entrypoint, args, contextData, callId, callIdStack, startedAt };
  }
}
