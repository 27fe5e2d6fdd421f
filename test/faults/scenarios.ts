// The fault scenarios of docs/RELIABILITY.md. Each one drives real traffic through a real
// RabbitMQ (a vhost of its own), injects one fault, and returns the counts: calls sent,
// answered, errored, lost, duplicates seen by callers, recovery time. The fault tests
// assert on them; `npm run faults` (scripts/faults.ts) runs them again and writes the table.
//
// Every scenario leaves the broker running, whatever happens to it.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { ClusterRpcProxy, loadConfig, ServiceRunner, type ClusterClient, type EnokiConfig } from 'enoki';
import { BROKER, createVhost, type TestVhost } from '../support/vhost.js';
import { CrashService, FaultService } from './fixtures/fault-service.js';
import {
  ensureBrokerRunning,
  LOG,
  LogTap,
  queueCounts,
  rabbitmqctl,
  recoveryMs,
  resultFrom,
  ROOT,
  runLoad,
  sleep,
  startEnoki,
  stopProcess,
  waitUntil,
  type FaultResult,
  type LoadOutcome,
  type ServiceProcess,
} from './harness.js';
import { TcpProxy } from './tcp-proxy.js';

export const FIXTURE = 'test/faults/fixtures/fault-service.ts';
const FIXTURE_URL = pathToFileURL(join(ROOT, FIXTURE)).href;
/** The @cpuBound pool is written alongside this work; scenarios that need it say so when it is missing. */

export interface ScenarioOptions {
  /** Calls in the load (default per scenario, ~500). */
  calls?: number;
}

type Echo = { i: number; pid: number };
const isEcho = (i: number, reply: unknown): boolean => typeof reply === 'object' && reply !== null && (reply as Echo).i === i;

function configFor(uri: string, extra: Record<string, unknown> = {}): EnokiConfig {
  return loadConfig({ AMQP_URI: uri, LOGGING: { level: 'silent' }, ...extra });
}

/** A service in this process and a client, each with its own connection, logging into one tap. */
async function inProcess(vhost: TestVhost, options: { clientUri?: string; serviceConfig?: Record<string, unknown>; clientConfig?: Record<string, unknown> } = {}) {
  const tap = new LogTap('debug');
  const runner = new ServiceRunner(configFor(vhost.uri, options.serviceConfig), { logger: tap.logger.child({ who: 'service' }) });
  runner.add(FaultService);
  await runner.start();
  const client = await ClusterRpcProxy.connect(configFor(options.clientUri ?? vhost.uri, options.clientConfig), {
    logger: tap.logger.child({ who: 'client' }),
    timeoutMs: 60_000,
  });
  return { tap, runner, client };
}

/** Who lost the connection how often, and how many requests the client sent again. */
function connectionFacts(tap: LogTap): { clientDisconnects: number; serviceDisconnects: number; resent: number } {
  const lost = tap.matching(LOG.connectionLost);
  return {
    clientDisconnects: lost.filter((l) => l.who === 'client').length,
    serviceDisconnects: lost.filter((l) => l.who === 'service').length,
    resent: tap.count(LOG.resent),
  };
}

function worst(values: Array<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === values.length && known.length > 0 ? Math.max(...known) : null;
}

/** One call of a scenario that makes its calls at once and awaits them together. */
interface SettledCall {
  ok: boolean;
  /** When it settled. */
  at: number;
  /** The error message; empty for a wrong reply. */
  error: string;
}

/** The FaultResult counts for such calls, and how long after `from` the last one settled. */
function tallyCalls(results: SettledCall[], from: number): Pick<FaultResult, 'sent' | 'answered' | 'errored' | 'lost' | 'errorsByCode' | 'recoveryMs'> {
  const answered = results.filter((r) => r.ok).length;
  const errored = results.length - answered;
  const errorsByCode: Record<string, number> = {};
  for (const r of results) if (!r.ok) errorsByCode[r.error || 'wrong reply'] = (errorsByCode[r.error || 'wrong reply'] ?? 0) + 1;
  return { sent: results.length, answered, errored, lost: results.length - answered - errored, errorsByCode, recoveryMs: Math.max(...results.map((r) => r.at)) - from };
}

/** An exit as a fact: the code, or the signal that ended the process. */
function exitLabel(exit: { code: number | null | 'hung'; signal: NodeJS.Signals | null }): number | string {
  return exit.code === null ? `signal ${exit.signal}` : exit.code;
}

// --- 1. the broker drops every connection, twice ------------------------------------------

export async function closeAllConnections(options: ScenarioOptions = {}): Promise<FaultResult> {
  const vhost = createVhost('fault-drop');
  const env = await inProcess(vhost);
  try {
    const drops: number[] = [];
    let previous = Promise.resolve();
    // One drop at a time, each once service and client are both back from the last one.
    const drop = (): Promise<void> =>
      (previous = previous.then(async () => {
        await waitUntil('service and client to be connected', () => env.tap.count(LOG.connected) >= 2 + 2 * drops.length, 30_000);
        drops.push(Date.now());
        await rabbitmqctl('close_all_connections', '-p', vhost.name, 'enoki fault test: server-side drop');
      }));
    const calls = options.calls ?? 500;
    const load = await runLoad({
      calls,
      ratePerSec: 100,
      call: (i) => env.client.fault_service.echo(i, 20),
      check: isEcho,
      faults: [
        { atSent: Math.floor(calls * 0.3), run: drop, holdAt: Math.floor(calls * 0.6) },
        { atSent: Math.floor(calls * 0.65), run: drop, holdAt: Math.floor(calls * 0.9) },
      ],
      settleWithinMs: 60_000,
    });
    // rabbitmqctl takes a moment (more under load): the drops are when the client saw them.
    const clientLost = env.tap.matching(LOG.connectionLost).filter((l) => l.who === 'client');
    const lostAt = drops.map((_, k) => clientLost[k]?.at ?? null);
    return resultFrom(load, {
      id: 'close-all-connections',
      fault: 'Broker closes every connection (server-side drop), twice',
      action: `\`rabbitmqctl close_all_connections -p <vhost>\` at ${Math.floor(calls * 0.3)} and ${Math.floor(calls * 0.65)} calls sent; service and client in this process, 100 calls/s, 20 ms each`,
      redundantReplies: env.tap.count(LOG.droppedReply),
      recoveryMs: worst(lostAt.map((t) => (t === null ? null : recoveryMs(load.records, t)))),
      recoveryFrom: 'the drop as the client saw it (worst of 2)',
      facts: {
        drops: drops.length,
        ...connectionFacts(env.tap),
      },
    });
  } finally {
    await env.client.close().catch(() => undefined);
    await env.runner.stop().catch(() => undefined);
    vhost.remove();
  }
}

// --- 2. the broker application stops and starts ------------------------------------------

export async function brokerRestart(options: ScenarioOptions = {}): Promise<FaultResult> {
  const vhost = createVhost('fault-restart');
  const env = await inProcess(vhost);
  let stoppedAt = 0;
  let backAt = 0;
  try {
    const restart = async (): Promise<void> => {
      try {
        await rabbitmqctl('stop_app');
        stoppedAt = Date.now();
        await sleep(1000);
      } finally {
        await rabbitmqctl('start_app');
        backAt = Date.now();
      }
    };
    const calls = options.calls ?? 500;
    const load = await runLoad({
      calls,
      ratePerSec: 100,
      call: (i) => env.client.fault_service.echo(i, 20),
      check: isEcho,
      faults: [{ atSent: Math.floor(calls * 0.3), run: restart, holdAt: Math.floor(calls * 0.8) }],
      settleWithinMs: 60_000,
    });
    const downMs = backAt - stoppedAt;
    return resultFrom(load, {
      id: 'broker-restart',
      fault: 'Broker application stopped and started',
      action: `\`rabbitmqctl stop_app\`, 1 s pause, \`start_app\` at ${Math.floor(calls * 0.3)} calls sent (broker down ${(downMs / 1000).toFixed(1)} s from stop_app returning); calls keep coming at 100/s and wait for the connection`,
      redundantReplies: env.tap.count(LOG.droppedReply),
      recoveryMs: recoveryMs(load.records, backAt),
      recoveryFrom: '`start_app` returning',
      facts: { downMs, resent: env.tap.count(LOG.resent) },
    });
  } finally {
    await ensureBrokerRunning();
    await env.client.close().catch(() => undefined);
    await env.runner.stop().catch(() => undefined);
    vhost.remove();
  }
}

// --- 3. one of two instances is SIGKILLed mid-call ------------------------------------------

export async function killInstance(options: ScenarioOptions = {}): Promise<FaultResult> {
  const vhost = createVhost('fault-kill');
  const tap = new LogTap('debug');
  let a: ServiceProcess | undefined;
  let b: ServiceProcess | undefined;
  let client: ClusterClient | undefined;
  try {
    const args = [`${FIXTURE}:FaultService`, '--broker', vhost.uri];
    [a, b] = await Promise.all([startEnoki(args), startEnoki(args)]);
    client = await ClusterRpcProxy.connect(configFor(vhost.uri), { logger: tap.logger.child({ who: 'client' }), timeoutMs: 60_000 });
    const rpc = client;
    let killedAt = 0;
    let inFlightAtKill = 0;
    const calls = options.calls ?? 400;
    const load: LoadOutcome = await runLoad({
      calls,
      ratePerSec: 80,
      // 150 ms each: at 80/s about 12 calls are running at any moment, half of them on A.
      call: (i) => rpc.fault_service.echo(i, 150),
      check: isEcho,
      faults: [
        {
          atSent: Math.floor(calls * 0.4),
          run: async () => {
            inFlightAtKill = rpc.inFlight;
            killedAt = Date.now();
            a!.child.kill('SIGKILL');
            await a!.exited;
          },
          holdAt: Math.floor(calls * 0.8),
        },
      ],
      settleWithinMs: 60_000,
    });
    const pidA = a.child.pid;
    const pidB = b.child.pid;
    const byPid = (pid: number | undefined, after = 0): number =>
      load.records.filter((r) => r.outcome === 'answered' && (r.reply as Echo).pid === pid && r.settledAt! > after).length;
    return resultFrom(load, {
      id: 'kill-instance',
      fault: 'One of two service instances killed with SIGKILL mid-call',
      action: `two \`enoki run\` processes; SIGKILL one at ${Math.floor(calls * 0.4)} calls sent (${inFlightAtKill} calls in flight), 80 calls/s, 150 ms each`,
      redundantReplies: tap.count(LOG.droppedReply),
      recoveryMs: recoveryMs(load.records, killedAt),
      recoveryFrom: 'SIGKILL',
      facts: {
        inFlightAtKill,
        answeredByKilled: byPid(pidA),
        answeredBySurvivor: byPid(pidB),
        answeredByKilledAfterKill: byPid(pidA, killedAt + 50),
      },
    });
  } finally {
    await client?.close().catch(() => undefined);
    await stopProcess(a);
    await stopProcess(b);
    vhost.remove();
  }
}

// --- 4. a @cpuBound thread exits or runs out of memory -------------------------------------

export async function cpuBoundCrash(options: ScenarioOptions = {}): Promise<FaultResult> {
  const vhost = createVhost('fault-cpu');
  const tap = new LogTap('debug');
  const runner = new ServiceRunner(configFor(vhost.uri, { POOL: { threads: 2, max_memory_mb: 64 } }), { logger: tap.logger.child({ who: 'service' }) });
  runner.add(CrashService, { module: FIXTURE_URL, exportName: 'CrashService' });
  let client: ClusterClient | undefined;
  try {
    await runner.start();
    client = await ClusterRpcProxy.connect(configFor(vhost.uri), { logger: tap.logger.child({ who: 'client' }), timeoutMs: 60_000 });
    const rpc = client;
    const crashes: Array<{ kind: string; at: number; error?: string; code?: string }> = [];
    const crash = (kind: 'exit' | 'exhaust') => async (): Promise<void> => {
      const entry: (typeof crashes)[number] = { kind, at: Date.now() };
      crashes.push(entry);
      try {
        await (kind === 'exit' ? rpc.crash_service.exit(1) : rpc.crash_service.exhaust());
        entry.error = 'no error';
      } catch (err) {
        entry.error = (err as Error).message;
        entry.code = (err as { code?: string }).code;
      }
    };
    const calls = options.calls ?? 300;
    const load = await runLoad({
      calls,
      ratePerSec: 60,
      call: (i) => rpc.crash_service.work(i, 5),
      check: (i, reply) => typeof reply === 'object' && reply !== null && (reply as { i: number }).i === i,
      faults: [
        { atSent: Math.floor(calls * 0.25), run: crash('exit') },
        { atSent: Math.floor(calls * 0.5), run: crash('exhaust') },
        { atSent: Math.floor(calls * 0.6), run: crash('exit') },
      ],
      settleWithinMs: 60_000,
    });
    const clear = crashes.every((c) => c.error !== 'no error' && /died|memory|exit/i.test(c.error ?? ''));
    return resultFrom(load, {
      id: 'cpu-bound-crash',
      fault: 'A @cpuBound thread exits / runs out of memory',
      action: `\`process.exit(1)\` in a pool thread twice and a 64 MB heap exhausted once, among ${calls} @cpuBound calls at 60/s (2 threads); counts are for the ordinary calls`,
      redundantReplies: tap.count(LOG.droppedReply),
      recoveryMs: worst(crashes.map((c) => recoveryMs(load.records, c.at))),
      recoveryFrom: 'each crashing call (worst of 3)',
      facts: {
        crashCalls: crashes.length,
        crashCallsErroredClearly: clear,
        crashErrors: crashes.map((c) => `${c.kind}: ${c.error}`).join(' | '),
      },
    });
  } finally {
    await client?.close().catch(() => undefined);
    await runner.stop().catch(() => undefined);
    vhost.remove();
  }
}

// --- 5. hostile and broken messages, published raw -------------------------------------------

interface BadMessage {
  name: string;
  body: Buffer;
  routingKey?: string;
  /** Publish straight to the service's queue through the default exchange. */
  direct?: boolean;
  contentType?: string | null;
  replyTo?: boolean;
  correlationId?: boolean;
  headers?: Record<string, unknown>;
  /** exc_type of the error reply, 'result' for a normal reply, 'rejected' without reply_to. */
  expect: string[];
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

export function badInputCorpus(maxMessageSize: number): BadMessage[] {
  return [
    { name: 'not JSON', body: Buffer.from('not json {'), expect: ['MalformedRequest'] },
    { name: 'empty body', body: Buffer.alloc(0), expect: ['MalformedRequest'] },
    { name: 'invalid UTF-8', body: Buffer.from([0xff, 0xfe, 0x7b, 0x80]), expect: ['MalformedRequest'] },
    { name: 'JSON array', body: json([1, 2]), expect: ['MalformedRequest'] },
    { name: 'JSON null', body: Buffer.from('null'), expect: ['MalformedRequest'] },
    { name: 'JSON string', body: json('hello'), expect: ['MalformedRequest'] },
    { name: 'args not a list', body: json({ args: 5, kwargs: {} }), expect: ['MalformedRequest'] },
    { name: 'kwargs not a mapping', body: json({ args: [], kwargs: [1] }), expect: ['MalformedRequest'] },
    { name: 'kwargs null', body: json({ args: [], kwargs: null }), expect: ['MalformedRequest'] },
    { name: 'unknown content type', body: json({ args: [1], kwargs: {} }), contentType: 'application/x-python-serialize', expect: ['MalformedRequest'] },
    { name: 'no content type (accepted)', body: json({ args: [1], kwargs: {} }), contentType: null, expect: ['result'] },
    { name: 'missing reply_to', body: json({ args: [1], kwargs: {} }), replyTo: false, expect: ['rejected'] },
    { name: 'missing reply_to, garbage body', body: Buffer.from('\u0000garbage'), replyTo: false, expect: ['rejected'] },
    { name: 'missing reply_to and correlation_id', body: json({ args: [1] }), replyTo: false, correlationId: false, expect: ['rejected'] },
    { name: 'missing correlation_id', body: json({ args: [1], kwargs: {} }), correlationId: false, expect: ['MalformedRequest'] },
    { name: 'unknown method', body: json({ args: [], kwargs: {} }), routingKey: 'fault_service.no_such_method', expect: ['MethodNotFound'] },
    { name: 'prototype method name', body: json({ args: [], kwargs: {} }), routingKey: 'fault_service.constructor', expect: ['MethodNotFound'] },
    { name: 'straight to the queue (no method in key)', body: json({ args: [1], kwargs: {} }), direct: true, expect: ['MethodNotFound'] },
    { name: 'too many args', body: json({ args: [1, 2, 3, 4, 5], kwargs: {} }), expect: ['IncorrectSignature'] },
    { name: 'missing required arg', body: json({ args: [], kwargs: {} }), expect: ['IncorrectSignature'] },
    { name: 'unknown kwarg', body: json({ args: [1], kwargs: { nope: 1 } }), expect: ['IncorrectSignature'] },
    { name: 'arg given twice', body: json({ args: [1], kwargs: { i: 2 } }), expect: ['IncorrectSignature'] },
    // Prototype poisoning is refused by the decoder (src/untrusted-json.ts), escaped or not, at any depth.
    { name: '__proto__ in kwargs', body: Buffer.from('{"args": [1], "kwargs": {"__proto__": {"polluted": true}}}'), expect: ['MalformedRequest'] },
    { name: 'constructor in kwargs', body: json({ args: [], kwargs: { i: 1, constructor: { prototype: { polluted: true } } } }), expect: ['MalformedRequest'] },
    { name: '__proto__ at top level', body: Buffer.from('{"__proto__": {"polluted": true}, "args": [1], "kwargs": {}}'), expect: ['MalformedRequest'] },
    { name: 'escaped __proto__ in an argument', body: Buffer.from('{"args": [{"\\u005f_proto__": {"polluted": true}}], "kwargs": {}}'), expect: ['MalformedRequest'] },
    { name: 'escaped __proto__ nested in kwargs', body: Buffer.from('{"args": [], "kwargs": {"i": {"a": [{"_\\u005fproto__": {"polluted": true}}]}}}'), expect: ['MalformedRequest'] },
    {
      name: 'hostile headers (accepted)',
      body: json({ args: [1], kwargs: {} }),
      headers: { 'nameko.__proto__': 'x', 'nameko.constructor': 'y', 'nameko.call_id_stack': 'not a list', 'x-other': { nested: [1, 2] } },
      expect: ['result'],
    },
    { name: `body over MAX_MESSAGE_SIZE (${maxMessageSize} bytes)`, body: Buffer.alloc(maxMessageSize + 1, 0x20), expect: ['MalformedRequest'] },
    { name: 'nesting 100k deep', body: Buffer.from(`{"args": [${'['.repeat(100_000)}${']'.repeat(100_000)}], "kwargs": {}}`), expect: ['MalformedRequest', 'UnserializableValueError', 'result'] },
    { name: 'result that cannot be serialized', body: json({ args: [], kwargs: {} }), routingKey: 'fault_service.cyclic', expect: ['UnserializableValueError'] },
  ];
}

export async function badInput(options: { vhost?: TestVhost } = {}): Promise<FaultResult> {
  const vhost = options.vhost ?? createVhost('bad-input');
  const env = await inProcess(vhost);
  const conn = await amqp.connect(vhost.uri);
  const startedAt = Date.now();
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('bad-replies', { exclusive: true });
    await ch.bindQueue('bad-replies', 'nameko-rpc', 'badreply.*');
    const replies = new Map<string, { excType: string; value: string; count: number }>();
    await ch.consume(
      'bad-replies',
      (msg) => {
        if (!msg) return;
        const key = msg.fields.routingKey.slice('badreply.'.length);
        let excType = 'unreadable reply';
        let value = '';
        try {
          const reply = JSON.parse(msg.content.toString()) as { error: { exc_type: string; value: string } | null };
          excType = reply.error ? reply.error.exc_type : 'result';
          value = reply.error ? reply.error.value : '';
        } catch {
          /* counted as unreadable */
        }
        const seen = replies.get(key);
        replies.set(key, { excType, value, count: (seen?.count ?? 0) + 1 });
      },
      { noAck: true },
    );
    const corpus = badInputCorpus(env.runner.config.MAX_MESSAGE_SIZE);
    corpus.forEach((m, n) => {
      const options: amqp.Options.Publish = { headers: m.headers };
      if (m.contentType !== null) options.contentType = m.contentType ?? 'application/json';
      if (m.replyTo !== false) options.replyTo = `badreply.${n}`;
      if (m.correlationId !== false) options.correlationId = `bad-${n}`;
      if (m.direct) ch.sendToQueue('rpc-fault_service', m.body, options);
      else ch.publish('nameko-rpc', m.routingKey ?? 'fault_service.echo', m.body, options);
    });
    const withReply = corpus.filter((m) => m.replyTo !== false).length;
    const withoutReply = corpus.length - withReply;
    await waitUntil(
      'a reply or a logged rejection for every message',
      () => replies.size >= withReply && env.tap.count(LOG.rejectedNoReplyTo) >= withoutReply,
      20_000,
    ).catch(() => undefined);
    // A message that loops (requeued for ever) would show up as more replies or rejections.
    await sleep(1000);
    const rejections = env.tap.count(LOG.rejectedNoReplyTo);
    const rejectionLines = env.tap.matching(LOG.rejectedNoReplyTo);
    const rejected = (n: number, m: BadMessage): boolean =>
      m.correlationId === false
        ? rejectionLines.some((l) => l.correlationId === undefined)
        : rejectionLines.some((l) => l.correlationId === `bad-${n}`);
    const outcomes = corpus.map((m, n) => {
      const got = m.replyTo === false ? (rejected(n, m) ? 'rejected' : 'nothing') : (replies.get(String(n))?.excType ?? 'nothing');
      return { name: m.name, got, ok: m.expect.includes(got), replies: replies.get(String(n))?.count ?? 0 };
    });
    const normal = await env.client.fault_service.echo(4242).then(
      (r) => isEcho(4242, r),
      () => false,
    );
    const queue = await queueCounts(vhost.name, 'rpc-fault_service');
    const accounted = outcomes.filter((o) => o.got !== 'nothing').length;
    const polluted = ({} as Record<string, unknown>).polluted !== undefined || (Object.prototype as Record<string, unknown>).polluted !== undefined;
    return {
      id: 'bad-input',
      fault: 'Broken and hostile requests published raw',
      action: `${corpus.length} messages published with amqplib: not JSON, wrong shapes, unknown content type, no reply_to / correlation_id, unknown method, wrong arity, \`__proto__\`/\`constructor\` keys, a body over MAX_MESSAGE_SIZE, 100k-deep nesting, an unserializable result; then one normal call`,
      sent: corpus.length,
      answered: accounted,
      errored: outcomes.filter((o) => !o.ok).length,
      lost: corpus.length - accounted,
      duplicates: outcomes.reduce((n, o) => n + Math.max(0, o.replies - 1), 0) + Math.max(0, rejections - withoutReply),
      redundantReplies: 0,
      recoveryMs: null,
      recoveryFrom: '',
      durationMs: Date.now() - startedAt,
      errorsByCode: {},
      facts: {
        expectedReplies: withReply,
        expectedRejections: withoutReply,
        loggedRejections: rejections,
        mismatches: outcomes
          .filter((o) => !o.ok)
          .map((o) => `${o.name}: got ${o.got}`)
          .join(' | '),
        normalCallAfter: normal,
        tooLargeReply: replies.get(String(corpus.findIndex((m) => m.name.startsWith('body over'))))?.value ?? '',
        queueReady: queue?.ready ?? -1,
        queueUnacked: queue?.unacked ?? -1,
        prototypePolluted: polluted,
      },
    };
  } finally {
    await conn.close().catch(() => undefined);
    await env.client.close().catch(() => undefined);
    await env.runner.stop().catch(() => undefined);
    if (!options.vhost) vhost.remove();
  }
}

// --- 6. SIGTERM with calls in flight -----------------------------------------------------------

export async function sigtermDrain(): Promise<FaultResult> {
  const vhost = createVhost('fault-sigterm');
  const dir = mkdtempSync(join(tmpdir(), 'enoki-sigterm-'));
  const tap = new LogTap('debug');
  let proc: ServiceProcess | undefined;
  let client: ClusterClient | undefined;
  const startedAt = Date.now();
  try {
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, `AMQP_URI: ${JSON.stringify(vhost.uri)}\nmax_workers: 25\nPOOL:\n  threads: 2\n  shutdown_grace: 30\n`);
    proc = await startEnoki([`${FIXTURE}:MixedService`, '--config', configPath]);
    client = await ClusterRpcProxy.connect(configFor(vhost.uri), { logger: tap.logger.child({ who: 'client' }), timeoutMs: 60_000 });
    const rpc = client;
    const kinds = ['inline', 'yielding', 'pool'] as const;
    let settled = 0;
    const calls = Array.from({ length: 20 }, (_, i) => {
      const kind = kinds[i % 3]!;
      const sentAt = Date.now();
      // Long enough that all 20 are seen running: the window is the first pool call's 4 s, and
      // one `rabbitmqctl list_queues` takes 1-2 s on a machine busy with the rest of CI (with
      // 2 s calls, one CI run never saw all 20 unacked at once).
      return rpc.mixed_service[kind](i, kind === 'pool' ? 4000 : 8000).then(
        (reply) => ({ i, kind, ok: (reply as { i: number; kind: string }).i === i && (reply as { kind: string }).kind === kind, sentAt, at: Date.now(), error: '' }),
        (err: Error) => ({ i, kind, ok: false, sentAt, at: Date.now(), error: err.message }),
      ).finally(() => settled++);
    });
    // Every request delivered and running before the signal.
    let seen: unknown;
    await waitUntil(
      'all 20 calls to be running',
      async () => {
        seen = await queueCounts(vhost.name, 'rpc-mixed_service');
        return (seen as { unacked: number } | undefined)?.unacked === 20;
      },
      20_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last seen ${JSON.stringify(seen)}, ${rpc.inFlight} calls in flight, ${settled} settled; service output:\n${proc?.output()}`);
    });
    const termAt = Date.now();
    proc.child.kill('SIGTERM');
    const results = await Promise.all(calls);
    const exit = await Promise.race([proc.exited, sleep(45_000).then(() => ({ code: 'hung' as const, signal: null }))]);
    const queue = await queueCounts(vhost.name, 'rpc-mixed_service');
    return {
      id: 'sigterm',
      fault: 'SIGTERM with 20 calls in flight',
      action: '`enoki run` with 20 calls running (7 inline and 7 yieldEvery, 8 s each; 6 @cpuBound, 4 s each, on 2 threads), then SIGTERM; exit code 0 and an empty queue checked',
      ...tallyCalls(results, termAt),
      duplicates: tap.count(LOG.droppedReply),
      redundantReplies: tap.count(LOG.droppedReply),
      recoveryFrom: 'SIGTERM to the last reply',
      durationMs: Date.now() - startedAt,
      facts: {
        exitCode: exitLabel(exit),
        queueReady: queue?.ready ?? -1,
        queueUnacked: queue?.unacked ?? -1,
        exitAfterTermMs: Date.now() - termAt,
      },
    };
  } finally {
    await client?.close().catch(() => undefined);
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
    vhost.remove();
  }
}

// --- 6b. SIGTERM while the broker is down ------------------------------------------------------

/**
 * The broker stops with calls running, then the service gets SIGTERM. Its calls finish, but
 * their replies cannot be sent; the broker requeued the requests when the connection went.
 * The service must not wait for the broker for ever: after POOL.shutdown_grace it drops the
 * replies and exits. Once the broker is back, a second instance answers the requeued
 * requests, and the client (which kept waiting) gets every answer.
 */
export async function sigtermBrokerDown(): Promise<FaultResult> {
  const vhost = createVhost('fault-sigterm-down');
  const dir = mkdtempSync(join(tmpdir(), 'enoki-sigterm-down-'));
  const tap = new LogTap('debug');
  let first: ServiceProcess | undefined;
  let second: ServiceProcess | undefined;
  let client: ClusterClient | undefined;
  const graceS = 3;
  const n = 6;
  const startedAt = Date.now();
  try {
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, `AMQP_URI: ${JSON.stringify(vhost.uri)}\nmax_workers: 10\nPOOL:\n  threads: 1\n  shutdown_grace: ${graceS}\n`);
    first = await startEnoki([`${FIXTURE}:MixedService`, '--config', configPath]);
    client = await ClusterRpcProxy.connect(configFor(vhost.uri), { logger: tap.logger.child({ who: 'client' }), timeoutMs: 120_000 });
    const rpc = client;
    const calls = Array.from({ length: n }, (_, i) =>
      rpc.mixed_service.inline(i, 5000).then(
        (reply) => ({ i, ok: (reply as { i: number }).i === i, at: Date.now(), error: '' }),
        (err: Error) => ({ i, ok: false, at: Date.now(), error: err.message }),
      ),
    );
    await waitUntil('all calls to be running', async () => (await queueCounts(vhost.name, 'rpc-mixed_service'))?.unacked === n, 20_000, 100);
    let termAt = 0;
    let exitAfterTermMs = -1;
    let exit: { code: number | null | 'hung'; signal: NodeJS.Signals | null };
    try {
      await rabbitmqctl('stop_app');
      termAt = Date.now();
      first.child.kill('SIGTERM');
      // The calls end 5 s after they began; then up to graceS for the broker; then exit.
      exit = await Promise.race([first.exited, sleep(40_000).then(() => ({ code: 'hung' as const, signal: null }))]);
      exitAfterTermMs = Date.now() - termAt;
    } finally {
      await rabbitmqctl('start_app');
    }
    const backAt = Date.now();
    await ensureBrokerRunning();
    second = await startEnoki([`${FIXTURE}:MixedService`, '--config', configPath]);
    const results = await Promise.all(calls);
    return {
      id: 'sigterm-broker-down',
      fault: 'SIGTERM while the broker is down, with calls in flight',
      action: `${n} inline calls of 5 s running; \`rabbitmqctl stop_app\`, then SIGTERM (POOL.shutdown_grace ${graceS} s); \`start_app\` once the process is gone, then a second instance`,
      ...tallyCalls(results, backAt),
      duplicates: tap.count(LOG.droppedReply),
      redundantReplies: tap.count(LOG.droppedReply),
      recoveryFrom: '`start_app` returning to the last answer (from the second instance)',
      durationMs: Date.now() - startedAt,
      facts: {
        exitCode: exitLabel(exit),
        exitAfterTermMs,
        // From stop_app returning; SIGTERM was sent at the same moment.
        brokerDownMs: backAt - termAt,
        graceMs: graceS * 1000,
        repliesDropped: (first.output().match(/reply not confirmed/g) ?? []).length,
      },
    };
  } finally {
    await ensureBrokerRunning();
    await client?.close().catch(() => undefined);
    await stopProcess(first);
    await stopProcess(second);
    rmSync(dir, { recursive: true, force: true });
    vhost.remove();
  }
}

// --- 7. one client is cut off the network for a few seconds ------------------------------------

export async function clientPartition(options: ScenarioOptions & { cutMs?: number; silent?: boolean } = {}): Promise<FaultResult> {
  const silent = options.silent ?? false;
  const vhost = createVhost(silent ? 'fault-silent' : 'fault-partition');
  const proxy = await TcpProxy.start();
  const broker = new URL(BROKER);
  const viaProxy = `${broker.protocol}//${broker.username}:${broker.password}@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost.name)}`;
  // A silent partition is noticed by heartbeats only: 1 s here, so in about 2 s.
  const env = await inProcess(vhost, { clientUri: viaProxy, clientConfig: silent ? { HEARTBEAT: 1 } : {} });
  const cutMs = options.cutMs ?? (silent ? 5000 : 3000);
  let restoredAt = 0;
  let cutAt = 0;
  let inFlightAtCut = 0;
  try {
    const calls = options.calls ?? 400;
    const load = await runLoad({
      calls,
      ratePerSec: 80,
      call: (i) => env.client.fault_service.echo(i, 50),
      check: isEcho,
      faults: [
        {
          atSent: Math.floor(calls * 0.3),
          run: async () => {
            inFlightAtCut = env.client.inFlight;
            cutAt = Date.now();
            if (silent) proxy.blackhole();
            else proxy.cut();
            await sleep(cutMs);
            proxy.restore();
            restoredAt = Date.now();
          },
          holdAt: Math.floor(calls * 0.8),
        },
      ],
      settleWithinMs: 60_000,
    });
    return resultFrom(load, {
      id: silent ? 'client-silent-partition' : 'client-partition',
      fault: silent
        ? "One client's network silently dropping every packet for a few seconds"
        : "One client's connection cut for a few seconds while its calls are in flight",
      action: silent
        ? `TCP proxy in front of the client only drops every byte both ways for ${(cutMs / 1000).toFixed(0)} s (no reset: noticed by the 1 s heartbeat) at ${Math.floor(calls * 0.3)} calls sent (${inFlightAtCut} in flight); 80 calls/s, 50 ms each`
        : `TCP proxy in front of the client only: connections reset and refused for ${(cutMs / 1000).toFixed(0)} s at ${Math.floor(calls * 0.3)} calls sent (${inFlightAtCut} in flight); the service stays connected; 80 calls/s, 50 ms each`,
      redundantReplies: env.tap.count(LOG.droppedReply),
      recoveryMs: recoveryMs(load.records, restoredAt),
      recoveryFrom: 'the network coming back',
      facts: {
        inFlightAtCut,
        cutMs: restoredAt - cutAt,
        clientNoticedAfterMs: (env.tap.matching(LOG.connectionLost, cutAt).find((l) => l.who === 'client')?.at ?? NaN) - cutAt,
        // Sent before the cut, answered after the network came back: replies that waited in the reply queue.
        answeredAcrossCut: load.records.filter((r) => r.sentAt <= cutAt && r.outcome === 'answered' && r.settledAt! >= restoredAt).length,
        sentDuringCut: load.records.filter((r) => r.sentAt > cutAt && r.sentAt < restoredAt).length,
        ...connectionFacts(env.tap),
      },
    });
  } finally {
    await env.client.close().catch(() => undefined);
    await env.runner.stop().catch(() => undefined);
    await proxy.close();
    vhost.remove();
  }
}

/** In the order of the report. */
export const SCENARIOS: Array<{ id: string; run: () => Promise<FaultResult> }> = [
  { id: 'close-all-connections', run: () => closeAllConnections() },
  { id: 'broker-restart', run: () => brokerRestart() },
  { id: 'kill-instance', run: () => killInstance() },
  { id: 'cpu-bound-crash', run: () => cpuBoundCrash() },
  { id: 'bad-input', run: () => badInput() },
  { id: 'sigterm', run: () => sigtermDrain() },
  { id: 'sigterm-broker-down', run: () => sigtermBrokerDown() },
  { id: 'client-partition', run: () => clientPartition() },
  { id: 'client-silent-partition', run: () => clientPartition({ silent: true }) },
];
