// `enoki shell`: a Node REPL connected to the broker, as `nameko shell` is a Python one.
// `n.rpc.<service>.<method>(...)` calls a service (top-level await works),
// `n.dispatch(source, type, payload)` dispatches an event, `n.config` is the resolved
// config as show-config prints it (secrets masked). With stdin not a terminal
// the shell runs a script: one line at a time, each finished (awaits included) before the
// next is read, no prompts, and exit code 1 if any line threw. The connection is closed on
// exit either way.

import { homedir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import repl, { type REPLServer } from 'node:repl';
import { PassThrough } from 'node:stream';
import { terminalLogger } from './cli-config.js';
import { maskUris, showConfig, type EnokiConfig } from './config.js';
import type { Logger } from './logger.js';
import { eventDispatcher } from './events/standalone-dispatcher.js';
import { ClusterRpcProxy, type ClusterClient } from './rpc/cluster-rpc-proxy.js';
import { withOtelSdk } from './tracing/otel-sdk.js';
import { createTransport } from './transport/create-transport.js';
import type { Transport } from './transport/transport.js';

/** What a member of `n` is made from: the shell's one connection, its config and logger. */
export interface ShellSession {
  readonly client: ClusterClient;
  /** The shell's one broker connection, which `client` uses too; its owner is the shell. */
  readonly transport: Transport;
  readonly config: EnokiConfig;
  readonly logger: Logger;
  /** Run `close` when the shell exits, before the connection closes. */
  onClose(close: () => Promise<void> | void): void;
}

/** Makes one member of `n` for a session. */
export type ShellHelper = (session: ShellSession) => unknown;

/**
 * Members of `n` beyond `rpc` and `config`, by name: where another transport adds its own
 * (a timer or a future entrypoint kind). Events are here already: `n.dispatch(source, type,
 * payload)`, nameko's `n.dispatch_event`, on the shell's one connection.
 */
export const SHELL_HELPERS = new Map<string, ShellHelper>([
  [
    'dispatch',
    async (session) => {
      const dispatcher = await eventDispatcher(session.config, { transport: session.transport, logger: session.logger });
      session.onClose(() => dispatcher.close());
      return dispatcher;
    },
  ],
]);

/** Usage of `enoki shell`, also part of `enoki --help`. */
export const SHELL_USAGE = `  enoki shell [--config config.yaml] [--broker amqp://...]
            a REPL with n.rpc.<service>.<method>(...), n.dispatch(source, type, payload) and n.config; reads a script from stdin when it is not a terminal`;

/** Run `enoki shell`; resolves to the exit code once the shell has exited and its connection closed. */
export async function shellCommand(config: EnokiConfig): Promise<number> {
  const logger = terminalLogger(config, 'enoki-shell');
  // As `enoki run`: OTEL_* variables asking for an exporter start the SDK; each call typed
  // is then the root of a trace.
  return withOtelSdk(['enoki_shell'], logger, () => runShell(config, logger));
}

async function runShell(config: EnokiConfig, logger: Logger): Promise<number> {
  // One connection for everything n does: calls, and what SHELL_HELPERS add (dispatch).
  const transport = createTransport(config, 'enoki shell', logger);
  await transport.open();
  const client = await ClusterRpcProxy.connect(config, { logger, name: 'enoki_shell', transport }).catch(async (err: unknown) => {
    await transport.close();
    throw err;
  });
  const closers: Array<() => Promise<void> | void> = [];
  const session: ShellSession = { client, transport, config, logger, onClose: (close) => closers.push(close) };
  const n = await shellNamespace(session);

  const scripted = !process.stdin.isTTY;
  const feed = scripted ? new PassThrough() : process.stdin;
  if (!scripted) process.stdout.write(`enoki shell on ${maskUris(config.AMQP_URI)}: n.rpc.<service>.<method>(...), n.config; .exit to leave\n`);
  const server = repl.start({ prompt: scripted ? '' : 'enoki> ', input: feed, output: process.stdout, terminal: !scripted, useGlobal: false });
  server.context['n'] = n;
  const exited = new Promise<void>((resolve) => server.once('exit', resolve));
  let failed = false;
  if (scripted) failed = await runScript(server, feed as PassThrough, exited);
  else server.setupHistory(join(homedir(), '.enoki_shell_history'), () => undefined);
  await exited;
  for (const close of closers.reverse()) await close();
  await client.close();
  await transport.close();
  return failed ? 1 : 0;
}

/** The shell's `n`: `rpc`, `config`, and one member per {@link SHELL_HELPERS} entry. */
export async function shellNamespace(session: ShellSession): Promise<Record<string, unknown>> {
  const n: Record<string, unknown> = { rpc: session.client, config: maskedConfig(session.config) };
  for (const [name, helper] of SHELL_HELPERS) n[name] = await helper(session);
  return n;
}

/**
 * Feed stdin to the REPL a line at a time, each only once the one before has finished:
 * fed all at once, `const x = await ...` on one line and `x` on the next would race.
 * Resolves true if any line threw.
 */
async function runScript(server: REPLServer, feed: PassThrough, exited: Promise<void>): Promise<boolean> {
  let done = false;
  void exited.then(() => (done = true));
  let ready: () => void = () => undefined;
  // The REPL shows its prompt when it has finished a line; in a script there is no prompt
  // to show (not even "..." inside a multi-line statement), only the signal to go on.
  server.displayPrompt = () => {
    server.setPrompt('');
    server.prompt();
    ready();
  };
  let failed = false;
  let lastError: unknown = server.lastError;
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (done) break;
    const finished = new Promise<void>((resolve) => (ready = resolve));
    feed.write(`${line}\n`);
    await Promise.race([finished, exited]);
    // The REPL keeps the last uncaught error of a line here (awaited rejections included).
    if (server.lastError !== lastError) {
      failed = true;
      lastError = server.lastError;
    }
  }
  lines.close();
  if (!done) server.close();
  return failed;
}

/** The config as show-config prints it: file spelling, every secret masked. */
function maskedConfig(config: EnokiConfig): Record<string, unknown> {
  return JSON.parse(showConfig(config, 'json')) as Record<string, unknown>;
}
