// Turns an error described by a pool thread (workers/protocol.ts ThreadError) back into an
// Error on the main thread that the rest of enoki treats exactly as the inline one:
//  - serializeError reads name, message, args, excPath and stack: all set as own fields,
//    so the reply's exc_type / exc_path / exc_args / value match the inline call's, and
//    the stack is the thread's;
//  - the container's log level and an HTTP entrypoint's status look at `instanceof`
//    (ExpectedError, the method's `expected` classes): the prototype is chosen by the
//    constructor names the thread saw, so those checks hold too.

import { ERROR_CATALOGUE, EnokiError, ExpectedError, IncorrectSignature, MalformedRequest, MethodNotFound, RemoteError, RpcTimeout, UnknownService } from '../errors.js';
import type { MethodDefinition } from '../service-definition.js';
import type { ThreadError } from '../../workers/protocol.js';

const ENOKI_CLASSES: Record<string, Function> = {
  RemoteError,
  MethodNotFound,
  IncorrectSignature,
  MalformedRequest,
  UnknownService,
  RpcTimeout,
  ExpectedError,
  EnokiError,
};

const BUILTINS: Record<string, Function> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
};

// Stand-in classes named after the thread's error class (ModelError extends Error), so
// loggers that print `err.constructor.name` (pino's `type`) show the same as inline.
const standIns = new Map<string, Function>();

function standIn(name: string, base: Function): Function {
  const key = `${name}\u0000${base.name}`;
  let cls = standIns.get(key);
  if (!cls) {
    const Base = base as new (...args: never[]) => Error;
    cls = { [name]: class extends Base {} }[name]!;
    standIns.set(key, cls);
  }
  return cls;
}

function prototypeFor(error: ThreadError, method: MethodDefinition | undefined): object {
  const expected = method?.expected ?? [];
  // Most derived first: the first name along the chain that we have a class for wins.
  for (const [depth, name] of error.chain.entries()) {
    const cls = expected.find((c) => c.name === name) ?? ENOKI_CLASSES[name] ?? BUILTINS[name];
    if (!cls) continue;
    const own = error.chain[0];
    return (depth === 0 || !own ? cls : standIn(own, cls)).prototype as object;
  }
  return Error.prototype;
}

export function rebuildThreadError(error: ThreadError, method?: MethodDefinition): Error {
  const err = Object.create(prototypeFor(error, method)) as Error & Record<string, unknown>;
  const own = (key: string, value: unknown): void => {
    Object.defineProperty(err, key, { value, writable: true, configurable: true, enumerable: false });
  };
  // Own `name` shadows the getter EnokiError/ExpectedError define on their prototype.
  own('name', error.name);
  own('message', error.message);
  own('stack', error.stack ?? `${error.name}: ${error.message}`);
  if (error.args !== undefined) own('args', error.args);
  if (error.excPath !== undefined) own('excPath', error.excPath);
  if (error.status !== undefined) own('status', error.status);
  if (error.headers !== undefined) own('headers', error.headers);
  if (error.code !== undefined) {
    own('code', error.code);
    const spec = (ERROR_CATALOGUE as Record<string, { retryable: boolean } | undefined>)[error.code];
    if (spec) own('retryable', spec.retryable);
  }
  return err;
}
