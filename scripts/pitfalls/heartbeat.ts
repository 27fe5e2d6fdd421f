// Pitfall (e): CPU-bound work starves the AMQP heartbeat. The connection's heartbeats are
// written by the event loop; a method that computes without yielding for more than about
// two heartbeat intervals lets RabbitMQ decide the service is dead. It closes the
// connection, the unacknowledged request goes back to the queue, the service reconnects,
// gets the same request again, and blocks again: forever, and nothing answers meanwhile.
// (nameko has the same problem with eventlet: a loop that never yields to the hub.)
//
// enoki's answers: `await tick()` from `yieldEvery(ms)` inside the loop (stays on the main
// thread, lets timers and sockets run), or `@cpuBound` (the method runs in a worker
// thread; the main loop never notices).
//
//   npx tsx scripts/pitfalls/heartbeat.ts [--seconds 9] [--heartbeat 2] [--variant inline,yieldEvery,cpuBound]
//
// The seed's scenario at reduced scale: HEARTBEAT 2 s and a 9 s computation instead of
// 60 s and 300 s (the full scale is bench/heartbeat.ts). Each variant runs under its own
// `enoki run` (a child process, real RabbitMQ at AMQP_URI); the busy method writes a line
// when it starts, so the service's log shows every delivery. While it runs, a second
// client pings `hello` every 500 ms. Exits 1 if yieldEvery or @cpuBound was redelivered,
// dropped its connection, left a ping unanswered, or did not answer.

import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { threadId } from 'node:worker_threads';
import { ClusterRpcProxy, cpuBound, rpc, yieldEvery } from '../../src/index.js';
import { clientConfig, deleteQueues, isEntry, ms, percentile, ServiceProcess, serviceName, table, verdict, type LogLine } from './support.js';

/** Busy-waits: the stand-in for a model's inference or any pure computation. */
function compute(ms: number): number {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  return x;
}

/**
 * One line on stderr, written synchronously: a blocked event loop cannot flush an
 * asynchronous logger, and this line must be out before the loop blocks.
 */
function started(variant: string): void {
  writeSync(2, `${JSON.stringify({ msg: 'busy started', variant, threadId, t: Date.now() })}\n`);
}

export class InlineBusy {
  static name = serviceName('pitfall_hb_inline');

  @rpc
  busy(seconds: number) {
    started('inline');
    compute(seconds * 1000);
    return 'done';
  }

  @rpc
  hello() {
    return 'hello';
  }
}

export class YieldingBusy {
  static name = serviceName('pitfall_hb_yield');

  @rpc
  async busy(seconds: number) {
    started('yieldEvery');
    const tick = yieldEvery(20);
    const end = performance.now() + seconds * 1000;
    let x = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 1_000; i++) x += Math.sqrt(x + 1);
      await tick();
    }
    return 'done';
  }

  @rpc
  hello() {
    return 'hello';
  }
}

export class PooledBusy {
  static name = serviceName('pitfall_hb_pool');

  @rpc
  @cpuBound
  busy(seconds: number) {
    started('cpuBound');
    compute(seconds * 1000);
    return 'done';
  }

  @rpc
  hello() {
    return 'hello';
  }
}

const VARIANTS = { inline: InlineBusy, yieldEvery: YieldingBusy, cpuBound: PooledBusy } as const;
type Variant = keyof typeof VARIANTS;

interface Outcome {
  variant: Variant;
  answered: number | null;
  deliveries: number;
  drops: number;
  watchdog: number;
  pings: number[];
  pingsFailed: number;
  exitCode: number;
}

async function runVariant(variant: Variant, seconds: number, heartbeat: number): Promise<Outcome> {
  const cls = VARIANTS[variant];
  const exportName = Object.entries({ InlineBusy, YieldingBusy, PooledBusy }).find(([, c]) => c === cls)![0];
  const service = await ServiceProcess.start([`scripts/pitfalls/heartbeat.ts:${exportName}`], {
    HEARTBEAT: heartbeat,
    POOL: { threads: 1 },
  });
  const isStart = (l: LogLine): boolean => l.msg === 'busy started';
  const config = clientConfig();
  const caller = await ClusterRpcProxy.connect(config, { timeoutMs: null });
  const pinger = await ClusterRpcProxy.connect(config, { timeoutMs: 3_000 });
  const pings: number[] = [];
  let pingsFailed = 0;
  let answered: number | null = null;
  const sent = performance.now();
  let exitCode: number;
  try {
    const reply = caller
      .service(cls.name)
      .busy(seconds)
      .then(() => {
        answered = (performance.now() - sent) / 1000;
      });
    reply.catch(() => undefined);
    await service.waitFor(isStart, 30_000, 'the first delivery of busy()');

    const inFlight = new Set<Promise<void>>();
    const pinging = setInterval(() => {
      const t = performance.now();
      const p = (pinger.service(cls.name).hello() as Promise<unknown>).then(
        () => void pings.push(performance.now() - t),
        () => void pingsFailed++,
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }, 500);
    // Until the reply, or a second delivery (the pitfall, shown: it would go on forever),
    // or long enough for a drop, the end of the work, a reconnect and a redelivery.
    const deadline = (2 * seconds + 4 * heartbeat + 15) * 1000;
    await Promise.race([
      reply,
      service.waitFor((l) => isStart(l) && service.count(isStart) >= 2, deadline, 'a second delivery').catch(() => undefined),
    ]);
    clearInterval(pinging);
    await Promise.allSettled([...inFlight]);
  } finally {
    // A redelivered inline call is blocking the loop again: it cannot stop gracefully.
    exitCode = await service.stop(service.count(isStart) >= 2 && answered === null ? 'SIGKILL' : 'SIGTERM');
    await caller.close();
    await pinger.close();
    await deleteQueues([cls.name]);
  }
  return {
    variant,
    answered,
    deliveries: service.count(isStart),
    drops: service.count((l) => typeof l.msg === 'string' && l.msg.startsWith('AMQP connection lost')),
    watchdog: service.count((l) => typeof l.msg === 'string' && l.msg.startsWith('event loop blocked')),
    pings,
    pingsFailed,
    exitCode,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '9' },
      heartbeat: { type: 'string', default: '2' },
      variant: { type: 'string', default: 'inline,yieldEvery,cpuBound' },
    },
  });
  const seconds = Number(values.seconds);
  const heartbeat = Number(values.heartbeat);
  const variants = values.variant!.split(',') as Variant[];
  for (const v of variants) if (!(v in VARIANTS)) throw new Error(`unknown variant ${v}; one of ${Object.keys(VARIANTS).join(', ')}`);
  if (seconds < 3 * heartbeat) console.log(`note: ${seconds} s of work at HEARTBEAT ${heartbeat} s may be too short for RabbitMQ to notice a blocked loop`);

  const outcomes: Outcome[] = [];
  for (const variant of variants) {
    console.log(`${variant}: a ${seconds} s computation at HEARTBEAT ${heartbeat} s ...`);
    outcomes.push(await runVariant(variant, seconds, heartbeat));
  }

  console.log(`\nOne ${seconds} s computation per variant, HEARTBEAT ${heartbeat} s, a hello ping every 500 ms beside it:\n`);
  console.log(
    table(
      ['variant', 'answered', 'deliveries of the call', 'connection drops', 'ping p50', 'ping max', 'pings unanswered (3 s)', 'watchdog warnings'],
      outcomes.map((o) => [
        o.variant,
        o.answered === null ? 'no' : `yes, ${o.answered.toFixed(1)} s`,
        String(o.deliveries),
        String(o.drops),
        ms(percentile(o.pings, 50), 2),
        ms(Math.max(-Infinity, ...o.pings), 1),
        `${o.pingsFailed} / ${o.pings.length + o.pingsFailed}`,
        String(o.watchdog),
      ]),
    ),
  );

  const failures: string[] = [];
  for (const o of outcomes) {
    if (o.variant === 'inline') {
      if (o.deliveries >= 2 && o.answered === null) console.log('\ninline: the connection dropped, the request came back and blocked the service again; it would never be answered.');
      else console.log(`\ninline: the pitfall did not show this time (${o.deliveries} deliveries, ${o.drops} drops); try --seconds ${seconds * 2}.`);
      continue;
    }
    if (o.answered === null) failures.push(`${o.variant}: no reply`);
    if (o.deliveries !== 1) failures.push(`${o.variant}: delivered ${o.deliveries} times`);
    if (o.drops !== 0) failures.push(`${o.variant}: the service lost its connection ${o.drops} times`);
    if (o.pingsFailed !== 0) failures.push(`${o.variant}: ${o.pingsFailed} pings unanswered within 3 s`);
    if (o.exitCode !== 0) failures.push(`${o.variant}: enoki run exited ${o.exitCode} on SIGTERM`);
  }
  verdict(failures, 'yieldEvery and @cpuBound answered once, kept their connection, and answered every ping meanwhile.');
}

if (isEntry(import.meta.url)) await main();
