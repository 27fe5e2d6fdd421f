// Runs @cpuBound calls inside a pool thread (loaded by pool-thread.ts, once per thread).
//
// A thread imports the service's module itself, so the class, and its statics, exist once
// per thread: `static model = loadModel(...)` runs on the first call a thread serves, and
// never again in that thread. Each call gets a fresh instance, as inline calls do.
//
// Dependencies: plain-data values arrive in the task and are assigned as they are. Every
// other dependency field holds a stand-in that, on first use, opens a MessagePort to the
// main thread, where that call's real dependency objects are served with comlink; so
// `await this.other_rpc.hello(x)` and `this.log.info(...)` run on the main thread, with the
// call's context (call id stack, context data), and return asynchronously.
//
// Nothing here opens a socket: importing the service's module loads enoki (and amqplib),
// but only a container's start() connects, and start() refuses to run in a pool thread.

import { wrap, type Remote } from 'comlink';
import { performance } from 'node:perf_hooks';
import { MessageChannel, parentPort, threadId, type MessagePort } from 'node:worker_threads';
import * as errors from '../src/errors.js';
import { importModule, moduleExports } from '../src/module-exports.js';
import { serviceNameOf } from '../src/service-definition.js';
import { cloneFailureReason, safeString, toError } from '../src/thrown-values.js';
import { ensureTypeScriptLoader, isTypeScriptModule } from '../src/typescript-loader.js';
import { installErrorTransfer, portEndpoint } from './comlink-bridge.js';
import {
  BATCH_ERROR_TAG,
  OFFLOAD_TAG,
  POOL_THREAD_MARK,
  type CallTask,
  type OffloadTask,
  type Outcome,
  type ServiceRef,
  type TaskReturn,
  type ThreadError,
  type ThreadMessage,
  type WarmTask,
} from './protocol.js';

const { EnokiError } = errors;

(globalThis as Record<symbol, unknown>)[POOL_THREAD_MARK] = true;

// Errors from main-thread dependencies (a failed nested RPC call) arrive as the same
// classes the method would have seen inline.
installErrorTransfer({
  RemoteError: errors.RemoteError.prototype,
  MethodNotFound: errors.MethodNotFound.prototype,
  IncorrectSignature: errors.IncorrectSignature.prototype,
  MalformedRequest: errors.MalformedRequest.prototype,
  UnknownService: errors.UnknownService.prototype,
  RpcTimeout: errors.RpcTimeout.prototype,
  EnokiError: errors.EnokiError.prototype,
});

type ServiceCtor = new () => Record<string, unknown>;

const classes = new Map<string, Promise<ServiceCtor>>();

/** Epoch milliseconds by this thread's clock: comparable across threads, unlike performance.now(). */
function now(): number {
  return performance.timeOrigin + performance.now();
}

function post(message: ThreadMessage, transfer?: MessagePort[]): void {
  parentPort!.postMessage(message, transfer as never);
}

/** piscina's handler: one task at a time per thread. */
export async function runTask(task: OffloadTask): Promise<TaskReturn> {
  return task.kind === 'warm' ? warm(task) : call(task);
}

async function warm(task: WarmTask): Promise<Outcome> {
  const started = performance.now();
  try {
    const cls = await loadClass(task);
    for (const method of task.methods) {
      if (typeof cls.prototype[method] !== 'function') {
        throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [task.serviceName, `the class exported by ${task.module} has no method ${method}`]);
      }
    }
    return { ok: true, value: { threadId, importMs: performance.now() - started } };
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}

async function call(task: CallTask): Promise<TaskReturn> {
  if (task.reportStart) post({ tag: OFFLOAD_TAG, key: task.key, kind: 'started', threadId, at: now() });
  let outcome: Outcome;
  try {
    const cls = await loadClass(task);
    const instance = new cls();
    Object.assign(instance, task.values);
    if (task.remotes.length > 0) {
      const bridge = new LazyBridge(task.key);
      for (const name of task.remotes) instance[name] = bridge.dependency(name);
    }
    const fn = instance[task.method];
    if (typeof fn !== 'function') {
      throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [task.serviceName, `the class exported by ${task.module} has no method ${task.method}`]);
    }
    const value = await (fn as (...args: unknown[]) => unknown).apply(instance, task.args);
    outcome = { ok: true, value: task.batched && Array.isArray(value) ? value.map(describeBatchElement) : value };
  } catch (err) {
    outcome = { ok: false, error: describeError(err) };
  }
  try {
    post({ tag: OFFLOAD_TAG, key: task.key, kind: 'outcome', outcome, at: now() });
    return null;
  } catch (err) {
    // Only a result can fail to clone: an error outcome is strings throughout.
    const where = `${task.serviceName}.${task.method}`;
    const refused: Outcome = {
      ok: false,
      error: describeError(new EnokiError('ENOKI_ERR_NOT_CLONEABLE', ['the result', where, cloneFailureReason((err as Error).message)])),
    };
    try {
      post({ tag: OFFLOAD_TAG, key: task.key, kind: 'outcome', outcome: refused, at: now() });
      return null;
    } catch {
      return refused;
    }
  }
}

function loadClass(ref: ServiceRef): Promise<ServiceCtor> {
  const key = `${ref.module}#${ref.exportName ?? ''}#${ref.serviceName}`;
  let found = classes.get(key);
  if (!found) {
    found = findClass(ref);
    classes.set(key, found);
    // A failed import is not cached: the next call tries again (and reports again).
    found.catch(() => classes.delete(key));
  }
  return found;
}

async function findClass(ref: ServiceRef): Promise<ServiceCtor> {
  let ns: Record<string, unknown>;
  try {
    if (isTypeScriptModule(ref.module)) await ensureTypeScriptLoader();
    ns = moduleExports(await importModule(ref.module));
  } catch (err) {
    throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [ref.serviceName, `a pool thread could not import ${ref.module}: ${describeError(err).name}: ${(err as Error)?.message ?? String(err)}`], {
      cause: err,
    });
  }
  if (ref.exportName !== undefined) {
    const cls = ns[ref.exportName];
    if (typeof cls !== 'function') {
      throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [ref.serviceName, `${ref.module} has no exported class ${ref.exportName}`]);
    }
    return cls as ServiceCtor;
  }
  // Found by service name rather than identity: the main thread's class object cannot
  // cross, and the name is unique per service anyway.
  const matches = new Set<Function>();
  const names: string[] = [];
  for (const [exportName, value] of Object.entries(ns)) {
    if (typeof value !== 'function' || matches.has(value)) continue;
    let name: string | undefined;
    try {
      name = serviceNameOf(value);
    } catch {
      continue;
    }
    if (name === ref.serviceName) {
      matches.add(value);
      names.push(exportName);
    }
  }
  if (matches.size === 1) return [...matches][0] as ServiceCtor;
  const why =
    matches.size === 0
      ? `${ref.module} exports no class with static name '${ref.serviceName}'; a service with @cpuBound methods must be exported from its module`
      : `${ref.module} exports several classes named '${ref.serviceName}' (${names.join(', ')}); name one with the exportName option`;
  throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [ref.serviceName, why]);
}

/**
 * The dependency port of one call, opened on first use. Methods that never touch a
 * dependency cost no channel at all.
 */
class LazyBridge {
  private root: Remote<Record<string, unknown>> | null = null;

  constructor(private readonly key: number) {}

  private remote(): Remote<Record<string, unknown>> {
    if (!this.root) {
      const { port1, port2 } = new MessageChannel();
      post({ tag: OFFLOAD_TAG, key: this.key, kind: 'port', port: port1 }, [port1]);
      this.root = wrap<Record<string, unknown>>(portEndpoint(port2));
    }
    return this.root;
  }

  dependency(name: string): unknown {
    return stand(() => (this.remote() as unknown as Record<string, unknown>)[name]);
  }
}

const noop = (): void => undefined;

/**
 * A stand-in for a remote value at some path: property reads build longer paths, a call
 * sends it. Calls get a no-op rejection handler, so an un-awaited `this.log.info(x)` that
 * fails cannot end the thread as an unhandled rejection; an awaited one still throws.
 */
function stand(resolve: () => unknown): unknown {
  return new Proxy(noop, {
    get(_target, prop) {
      // Symbols (inspect, toPrimitive, ...) cannot name a remote member.
      if (typeof prop === 'symbol') return undefined;
      // `await this.dep.x`: comlink answers `then` itself by fetching the value.
      if (prop === 'then') return (resolve() as Record<string, unknown>).then;
      return stand(() => (resolve() as Record<string, unknown>)[prop]);
    },
    apply(_target, _this, args) {
      const pending = (resolve() as (...a: unknown[]) => Promise<unknown>)(...args);
      pending.catch(noop);
      return pending;
    },
  });
}

/** An Error element of a batch result as tagged plain data; anything else as it is. */
function describeBatchElement(element: unknown): unknown {
  return element instanceof Error ? { [BATCH_ERROR_TAG]: describeError(element) } : element;
}

/** Plain data for any thrown value, read the way src/rpc/wire.ts serializeError reads it. */
export function describeError(thrown: unknown): ThreadError {
  // As ServiceContainer's toError: a non-Error thrown becomes an Error with its text.
  const err = toError(thrown);
  const chain: string[] = [];
  for (let proto = Object.getPrototypeOf(err); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const ctor = (proto as { constructor?: { name?: unknown } }).constructor;
    chain.push(typeof ctor?.name === 'string' ? ctor.name : '');
  }
  const custom = err as Error & { args?: unknown; excPath?: unknown; code?: unknown; status?: unknown; headers?: unknown };
  const staticPath = (err.constructor as { excPath?: unknown } | undefined)?.excPath;
  return {
    name: err.name || err.constructor?.name || 'Error',
    message: err.message,
    stack: err.stack,
    chain,
    code: typeof custom.code === 'string' ? custom.code : undefined,
    args: Array.isArray(custom.args) ? custom.args.map(safeString) : undefined,
    excPath: typeof custom.excPath === 'string' ? custom.excPath : typeof staticPath === 'string' ? staticPath : undefined,
    // An @http handler's HttpError chooses its response; keep that across the thread.
    status: typeof custom.status === 'number' ? custom.status : undefined,
    headers: isPlainHeaders(custom.headers) ? custom.headers : undefined,
  };
}

function isPlainHeaders(value: unknown): value is Record<string, string | number | string[]> {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value).every((v) => typeof v === 'string' || typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'string')));
}
