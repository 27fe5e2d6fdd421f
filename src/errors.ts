// The one catalogue of enoki's own errors. Every error enoki raises carries a stable
// `code` (ENOKI_ERR_*), a message made from a template, and whether retrying the same
// operation can help. test/errors-catalogue.test.ts pins this table, so a code is never
// renamed or reused by accident: callers match on codes, not on message text.
//
// Errors that cross the wire (MethodNotFound, IncorrectSignature, MalformedRequest,
// RemoteError, UnknownService) keep nameko's class names so that Python and TypeScript
// callers see the same exception types; they carry an ENOKI_ERR_* code as well.

export interface ErrorSpec {
  /** Message template; `%s` placeholders are filled in order from the arguments. */
  readonly message: string;
  /** True when the same call may succeed if simply tried again later. */
  readonly retryable: boolean;
  /**
   * True when the message names the service's internals (file paths, hosts, config
   * values): a caller then gets the code and a generic message, and only the service's
   * log has the whole message (see {@link callerMessage}).
   */
  readonly internal?: boolean;
}

/**
 * Every error code enoki raises (`ENOKI_ERR_*`), with its message template (`%s` filled in
 * order from the error's arguments) and whether retrying the same operation can help.
 * Codes are stable, never renamed or reused: match on `err.code`, not on message text.
 */
export const ERROR_CATALOGUE = {
  ENOKI_ERR_CONFIG_FILE: { message: 'cannot read config file %s: %s', retryable: false, internal: true },
  ENOKI_ERR_CONFIG_INVALID: { message: 'invalid config %s in %s: %s', retryable: false, internal: true },
  ENOKI_ERR_CONFIG_VAR: { message: 'config %s in %s: environment variable %s is not set and has no default', retryable: false, internal: true },
  ENOKI_ERR_SERVICE_INVALID: { message: 'service class %s is not a valid enoki service: %s', retryable: false, internal: true },
  ENOKI_ERR_SERVICE_LOAD: { message: 'cannot load service %s: %s', retryable: false, internal: true },
  ENOKI_ERR_DECORATOR_USAGE: { message: 'decorator @%s used wrongly on %s: %s', retryable: false },
  ENOKI_ERR_CONNECT: { message: 'cannot connect to %s: %s', retryable: true, internal: true },
  // Broker connection failures by cause. Each names the URI (password masked) and the one
  // step that fixes it; `retryable` decides whether startup waits (STARTUP_TIMEOUT) or
  // fails at once: no amount of waiting fixes a wrong password.
  ENOKI_ERR_BROKER_AUTH: {
    message:
      'broker %s refused the login of user %s (403 ACCESS_REFUSED): wrong user name or password. Next: fix the credentials in AMQP_URI (percent-encode : @ / # in them); `rabbitmqctl authenticate_user %s <password>` checks them on the broker',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_BROKER_VHOST: {
    message:
      'broker %s refused vhost %s to user %s (530 NOT_ALLOWED): the vhost does not exist or the user has no permissions on it. Next: create it and grant access (rabbitmqctl add_vhost %s; rabbitmqctl set_permissions -p %s %s ".*" ".*" ".*"), or fix the vhost in AMQP_URI (the path after the port; the default vhost / is %2F)',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_BROKER_REFUSED: {
    message:
      'cannot connect to %s: connection refused, nothing listens on %s. Next: start RabbitMQ there (docker run -p 5672:5672 rabbitmq:4), or point AMQP_URI / --broker at the host and port it listens on',
    retryable: true,
    internal: true,
  },
  ENOKI_ERR_BROKER_HOST: {
    message: 'cannot connect to %s: host %s not found (%s). Next: fix the host name in AMQP_URI (in docker compose: the broker\'s service name)',
    retryable: true,
    internal: true,
  },
  ENOKI_ERR_BROKER_TIMEOUT: {
    message:
      'cannot connect to %s: %s did not answer (%s). Next: check that no firewall or security group drops port %s between here and the broker, and that the broker is not overloaded (rabbitmq-diagnostics status)',
    retryable: true,
    internal: true,
  },
  ENOKI_ERR_BROKER_TLS: { message: 'cannot connect to %s: TLS failed (%s). Next: %s', retryable: false, internal: true },
  ENOKI_ERR_BROKER_PROTOCOL: {
    message:
      'cannot connect to %s: %s does not speak AMQP 0-9-1 (%s). Next: point AMQP_URI at RabbitMQ\'s AMQP port (5672 for amqp://, 5671 for amqps://; 15672 is the management UI)',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_BROKER_HANDSHAKE: {
    message:
      'cannot connect to %s: %s closed the connection during the AMQP handshake (%s). Next: wait for RabbitMQ to finish starting (it drops connections while it boots); if it lasts, check that the port is RabbitMQ\'s AMQP port',
    retryable: true,
    internal: true,
  },
  ENOKI_ERR_DISCONNECTED: { message: 'the connection to %s is down; %s', retryable: true, internal: true },
  ENOKI_ERR_CLIENT_CLOSED: { message: 'the RPC client was closed; %s cannot be called', retryable: false },
  ENOKI_ERR_CONTAINER_STATE: { message: 'service %s is %s; %s', retryable: false },
  ENOKI_ERR_UNKNOWN_SERVICE: { message: 'no service is listening for %s (nothing bound to routing key %s on exchange %s)', retryable: true },
  ENOKI_ERR_METHOD_NOT_FOUND: { message: '%s', retryable: false },
  ENOKI_ERR_INCORRECT_SIGNATURE: { message: '%s', retryable: false },
  ENOKI_ERR_MALFORMED_REQUEST: { message: '%s', retryable: false },
  ENOKI_ERR_REMOTE: { message: '%s %s', retryable: false },
  ENOKI_ERR_RPC_TIMEOUT: { message: 'call %s got no reply within %s ms', retryable: true },
  ENOKI_ERR_PUBLISH: { message: 'publishing to %s failed: %s', retryable: true, internal: true },
  ENOKI_ERR_BODY_TOO_LARGE: { message: 'message body of %s bytes exceeds the limit of %s bytes', retryable: false },
  ENOKI_ERR_NOT_CLONEABLE: { message: '%s of %s cannot cross between threads: %s', retryable: false },
  ENOKI_ERR_WORKER_DIED: { message: '%s: the pool thread running it died (%s)', retryable: true },
  ENOKI_ERR_POOL_FULL: { message: '%s: the worker pool queue is full (%s tasks waiting)', retryable: true },
  ENOKI_ERR_ABORTED: { message: '%s was aborted: %s', retryable: true },
  ENOKI_ERR_WAIT_TIMEOUT: { message: 'entrypointWaiter: %s did not run%s within %s ms', retryable: true },
  ENOKI_ERR_HTTP_BODY: { message: 'request body could not be read: %s', retryable: false },
  ENOKI_ERR_TESTING_USAGE: { message: '%s: %s', retryable: false },
  ENOKI_ERR_EVENT_PAYLOAD: { message: 'event payload cannot be carried as JSON or MessagePack: %s', retryable: false },
  ENOKI_ERR_DISPATCHER_CLOSED: { message: 'the event dispatcher was closed; %s cannot be sent', retryable: false },
  ENOKI_ERR_EVENT_SOURCE: { message: '%s: source service %s is not a service name (letters, digits, _ and -)', retryable: false },
  ENOKI_ERR_EVENT_TYPE: { message: '%s: event type %s is not a routing key (a non-empty string of at most 255 bytes)', retryable: false },
  ENOKI_ERR_DUPLICATE_COPY: {
    message:
      'two copies of enoki are loaded in one process, %s and %s: their services, errors and worker pools would not see each other. Install one (npm ls enoki; npm dedupe), and start services with that copy\'s `enoki` (npx enoki from the project)',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_BATCH_RESULT: { message: '@batched %s: a batch of %s inputs must return an array of one result per input, in order; it returned %s', retryable: false },
  ENOKI_ERR_NO_ENTRYPOINTS: {
    message:
      'service class %s (%s) has no entrypoints, so it would start and answer nothing. Mark a method with an entrypoint decorator: @rpc, @http(...), @eventHandler(...), @timer(...) (in plain JavaScript: decorate(%s, { method: rpc })). If it has decorators, the module was compiled without them or by another copy of enoki',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_METRICS_LISTEN: {
    message: 'cannot serve metrics on METRICS_ADDRESS %s: %s. Next: choose a free port, or unset METRICS_ADDRESS to run without metrics',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_CONSUMER_TIMEOUT: {
    message:
      'RabbitMQ closed the consumer channel of %s: a request was not acknowledged within the broker\'s consumer_timeout (%s). %s had been running for %s s. The broker requeued it and redelivers it here, where it joins the running call (one execution, one reply); on another instance it would run again. Next: raise consumer_timeout above your longest call (rabbitmq.conf: consumer_timeout = <ms>; RabbitMQ 3.12+ also takes a policy or the x-consumer-timeout queue argument), or split the task',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_LONG_TASK_BROKER: {
    message:
      '%s declares calls of up to %s s (@cpuBound maxSeconds), so a request of queue %s may stay unacknowledged for up to %s. %s cannot take a consumer timeout per queue (RabbitMQ 3.12 and later can), so the broker\'s node-wide consumer_timeout applies: 30 min unless changed, and a client cannot read it. Next: on every node set consumer_timeout = %s in rabbitmq.conf (or {rabbit, [{consumer_timeout, %s}]} in advanced.config) and restart it, or upgrade to RabbitMQ 3.12+',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_CONSUMER_TIMEOUT_ARGUMENT: {
    message:
      'RabbitMQ refused to declare queue %s with the x-consumer-timeout its long tasks need (@cpuBound maxSeconds): %s. A queue keeps the arguments it was first declared with, and some queue types take none. Next: delete the queue while no instance runs (rabbitmqctl delete_queue %s; it loses waiting requests), or remove maxSeconds and set a policy instead (rabbitmqctl set_policy long-tasks \'^%s$\' \'{"consumer-timeout": %s}\' --apply-to queues), or use QUEUE_TYPE: quorum on a new queue',
    retryable: false,
    internal: true,
  },
  ENOKI_ERR_REPLY_QUEUE_LOST: {
    message:
      'call %s: the reply queue of this client was on broker node %s, which went down, so the reply cannot arrive. The request reached the broker and may have run. Next: call again if the method is safe to repeat; the client already replies on a new queue',
    retryable: true,
    internal: true,
  },
} as const satisfies Record<string, ErrorSpec>;

/** One of enoki's error codes, the keys of {@link ERROR_CATALOGUE}. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'));
}

/** Options of the {@link EnokiError} constructor. */
export interface EnokiErrorOptions {
  /** The underlying error, kept as the standard `Error.cause`. */
  cause?: unknown;
}

/**
 * What a caller is told of an error thrown in a service (the RPC reply's message, an HTTP
 * 500's body): its own message, except for enoki errors whose messages name the service's
 * internals (`internal` in the catalogue), which read as their code and a pointer to the
 * service's log unless `includeInternals` (the config's INCLUDE_REMOTE_STACK) is on.
 */
export function callerMessage(err: Error, includeInternals = false): string {
  const code = (err as { code?: unknown }).code;
  if (includeInternals || typeof code !== 'string' || !Object.hasOwn(ERROR_CATALOGUE, code)) return err.message;
  const spec: ErrorSpec = ERROR_CATALOGUE[code as ErrorCode];
  return spec.internal ? `${code}: an internal error in the service; its log has the details` : err.message;
}

/** Base class of every error enoki raises itself. */
export class EnokiError extends Error {
  /** The stable `ENOKI_ERR_*` code: what to match on. */
  readonly code: ErrorCode;
  /** True when the same operation may succeed if simply tried again later. */
  readonly retryable: boolean;

  /**
   * @param code - The error's code; its catalogue entry gives the message template.
   * @param args - Values for the template's `%s` placeholders, in order.
   */
  constructor(code: ErrorCode, args: readonly unknown[] = [], options: EnokiErrorOptions = {}) {
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    super(format(spec.message, args), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = spec.retryable;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

// --- Errors with nameko names: these are what callers catch. ---------------------------

/** The service has no RPC method of that name (nameko.exceptions.MethodNotFound). */
export class MethodNotFound extends EnokiError {
  constructor(message: string) {
    super('ENOKI_ERR_METHOD_NOT_FOUND', [message]);
  }
}

/** Arguments did not fit the method's parameters (nameko.exceptions.IncorrectSignature). */
export class IncorrectSignature extends EnokiError {
  constructor(message: string) {
    super('ENOKI_ERR_INCORRECT_SIGNATURE', [message]);
  }
}

/** The request body was not `{"args": [...], "kwargs": {...}}` JSON (nameko.exceptions.MalformedRequest). */
export class MalformedRequest extends EnokiError {
  constructor(message: string) {
    super('ENOKI_ERR_MALFORMED_REQUEST', [message]);
  }
}

/**
 * An executor rejects a call with this when the service is shutting down and the call
 * was given up (past POOL.shutdown_grace, or on kill) rather than finished. The call is
 * never answered with a result or an error reply (that would lose the request): the RPC
 * entrypoint returns the request to its queue, for another instance (or this one,
 * restarted) to run; the HTTP entrypoint answers 503.
 */
export class CallAbandoned extends EnokiError {
  constructor(where: string, reason: string) {
    super('ENOKI_ERR_ABORTED', [where, reason]);
  }
}

/** Nothing consumes the target service's queue: the mandatory publish came back. */
export class UnknownService extends EnokiError {
  readonly serviceName: string;
  constructor(serviceName: string, routingKey: string, exchange: string) {
    super('ENOKI_ERR_UNKNOWN_SERVICE', [serviceName, routingKey, exchange]);
    this.serviceName = serviceName;
  }
}

/** No reply arrived within the call's timeout. The call may still run on the service. */
export class RpcTimeout extends EnokiError {
  readonly timeoutMs: number;
  constructor(target: string, timeoutMs: number) {
    super('ENOKI_ERR_RPC_TIMEOUT', [target, timeoutMs]);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The remote method raised. `excType` is the remote exception's class name (a Python
 * class name for nameko services), `value` its message; `remoteStack` is set when the
 * service was configured to send stacks.
 */
export class RemoteError extends EnokiError {
  readonly excType: string;
  readonly value: string;
  readonly excPath: string | undefined;
  readonly excArgs: readonly unknown[];
  readonly remoteStack: string | undefined;
  /** The remote error's ENOKI_ERR_* code when an enoki service raised one of its own errors. */
  readonly remoteCode: string | undefined;
  constructor(
    excType: string,
    value: string,
    details: { excPath?: string; excArgs?: readonly unknown[]; remoteStack?: string; remoteCode?: string } = {},
  ) {
    super('ENOKI_ERR_REMOTE', [excType, value]);
    this.remoteCode = details.remoteCode;
    this.excType = excType;
    this.value = value;
    this.excPath = details.excPath;
    this.excArgs = details.excArgs ?? [];
    this.remoteStack = details.remoteStack;
  }
}

/**
 * Throw (or subclass) this from a service method for failures that are the caller's
 * fault and expected in normal operation: they are logged at warn level without a
 * stack, and an HTTP entrypoint answers 400. Same idea as nameko's `expected_exceptions`.
 */
export class ExpectedError extends Error {
  override get name(): string {
    return this.constructor.name;
  }
}

/**
 * True when `err` is an {@link EnokiError} and, if `code` is given, has that code:
 * `if (isEnokiError(err, 'ENOKI_ERR_RPC_TIMEOUT')) ...`. Narrows `err`'s type.
 */
export function isEnokiError(err: unknown, code?: ErrorCode): err is EnokiError {
  return err instanceof EnokiError && (code === undefined || err.code === code);
}
