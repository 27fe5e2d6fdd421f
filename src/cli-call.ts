// `enoki call <service>.<method> [args...] [--kwargs JSON] [--context JSON]`: one RPC from
// the terminal, as a script or a health check would make it. Each argument is JSON when it
// parses as JSON (`42`, `true`, `{"a":1}`, `"42"` for the string), else the string as typed.
// The result goes to stdout (strings as they are, anything else as JSON); a remote error
// goes to stderr as its type and message, with exit code 1.

import { parseUntrustedJson, PoisonedJsonError } from './untrusted-json.js';
import { readConfig, terminalLogger } from './cli-config.js';
import { IncorrectSignature, isEnokiError, MalformedRequest, MethodNotFound, RemoteError } from './errors.js';
import type { EnokiConfig } from './config.js';
import type { Logger } from './logger.js';
import { ClusterRpcProxy } from './rpc/cluster-rpc-proxy.js';
import { withOtelSdk } from './tracing/otel-sdk.js';

/** Usage of `enoki call`, also part of `enoki --help`. */
export const CALL_USAGE = `  enoki call <service>.<method> [arg ...] [--kwargs JSON] [--context JSON] [--timeout SECONDS]
            [--config config.yaml] [--broker amqp://...]
            each arg is JSON when it parses as JSON, else a string ("\\"42\\"" for the string 42);
            put -- before arguments that start with a dash; --timeout bounds the whole
            command, the wait for an unreachable broker included (default: STARTUP_TIMEOUT
            for the broker, then RPC_TIMEOUT for the reply)`;

interface CallArgs {
  target: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  context: Record<string, unknown>;
  timeoutSeconds: number | undefined;
  config: string | undefined;
  broker: string | undefined;
  help: boolean;
}

class UsageError extends Error {}

/** A positional argument: JSON when it parses as JSON, else the string itself. */
export function argumentValue(text: string): unknown {
  try {
    return parseUntrustedJson(text);
  } catch (err) {
    // JSON that would poison prototypes is refused, not sent on as a string.
    if (err instanceof PoisonedJsonError) throw new UsageError(`argument refused: ${err.message}`);
    return text;
  }
}

function jsonObject(flag: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseUntrustedJson(text);
  } catch (err) {
    if (err instanceof PoisonedJsonError) throw new UsageError(`${flag} refused: ${err.message}`);
    throw new UsageError(`${flag} is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${flag} must be a JSON object, like '{"name": "x"}'`);
  return value as Record<string, unknown>;
}

// Not node:util parseArgs: an argument such as -5 is a value here, not an unknown option.
function parseCallArgs(argv: string[]): CallArgs {
  const out: CallArgs = { target: '', args: [], kwargs: {}, context: {}, timeoutSeconds: undefined, config: undefined, broker: undefined, help: false };
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      return out;
    }
    const option = /^(--kwargs|--context|--timeout|--config|-c|--broker)(?:=(.*))?$/s.exec(arg);
    if (!option) {
      if (/^--?[a-z]/i.test(arg)) throw new UsageError(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const value = option[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`${option[1]} needs a value`);
    switch (option[1]) {
      case '--kwargs':
        out.kwargs = jsonObject('--kwargs', value);
        break;
      case '--context':
        out.context = jsonObject('--context', value);
        break;
      case '--timeout':
        out.timeoutSeconds = Number(value);
        if (!Number.isFinite(out.timeoutSeconds) || out.timeoutSeconds <= 0) throw new UsageError('--timeout is a number of seconds > 0');
        break;
      case '--broker':
        out.broker = value;
        break;
      default:
        out.config = value;
    }
  }
  const [target, ...args] = positionals;
  if (!target || !/^[^.\s]+\.[^.\s]+$/.test(target)) throw new UsageError('name the method as <service>.<method>, e.g. greeting_service.hello');
  out.target = target;
  out.args = args.map(argumentValue);
  return out;
}

/** Run `enoki call`; resolves to the exit code. */
export async function callCommand(argv: string[]): Promise<number> {
  let call: CallArgs;
  try {
    call = parseCallArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`enoki call: ${err.message}\n\nUsage:\n${CALL_USAGE}\n`);
    return 2;
  }
  if (call.help) {
    process.stdout.write(`Usage:\n${CALL_USAGE}\n`);
    return 0;
  }
  const config = readConfig(call.config, call.broker);
  const logger = terminalLogger(config, 'enoki-call');
  // As `enoki run`: OTEL_* variables asking for an exporter start the SDK, and this call's
  // client span is then the root of its trace.
  return withOtelSdk(['enoki_call'], logger, () => makeCall(call, config, logger));
}

async function makeCall(call: CallArgs, config: EnokiConfig, logger: Logger): Promise<number> {
  const [service, method] = call.target.split('.') as [string, string];
  // --timeout is the whole command's budget: a health probe with `--timeout 5` must not sit
  // out STARTUP_TIMEOUT (a minute) when the broker is down.
  const deadline = call.timeoutSeconds === undefined ? undefined : Date.now() + call.timeoutSeconds * 1000;
  const client = await ClusterRpcProxy.connect(config, {
    logger,
    name: 'enoki_call',
    ...(call.timeoutSeconds !== undefined && { startupTimeout: call.timeoutSeconds }),
  });
  try {
    const result = await client.call(service, method, call.args, {
      kwargs: call.kwargs,
      contextData: call.context,
      ...(deadline !== undefined && { timeoutMs: Math.max(1, deadline - Date.now()) }),
    });
    process.stdout.write(`${typeof result === 'string' ? result : (JSON.stringify(result, null, 2) ?? 'null')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof RemoteError) {
      process.stderr.write(`enoki call: ${call.target} raised ${err.excType}: ${err.value}\n`);
      return 1;
    }
    // The service answered with one of nameko's own errors (the client rebuilds them as
    // their classes): report them as the remote errors they are.
    if (err instanceof MethodNotFound || err instanceof IncorrectSignature || err instanceof MalformedRequest) {
      process.stderr.write(`enoki call: ${call.target} raised ${err.name}: ${err.message}\n`);
      return 1;
    }
    if (isEnokiError(err)) {
      process.stderr.write(`enoki call: ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}
