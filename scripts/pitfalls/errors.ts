// Pitfall (a): errors that are never logged. In nameko, an exception in a worker goes back
// to the caller as a RemoteError, and unless you configured logging yourself, the service
// writes nothing: the caller has a type and a message, nobody has the stack.
//
// enoki logs every error a method throws, with its stack, with no logging dependency and
// no configuration: error level for failures, warn (no stack) for expected errors, from
// inline and from @cpuBound methods alike.
//
//   npx tsx scripts/pitfalls/errors.ts
//
// Starts the service below with `enoki run` (a child process, real RabbitMQ at AMQP_URI),
// makes one call of each kind, and reads the service's own log (its stderr). Exits 1 if a
// failure was not logged with a stack naming the line that threw.

import { cpuBound, ExpectedError, rpc, ClusterRpcProxy, RemoteError } from '../../src/index.js';
import { clientConfig, deleteQueues, isEntry, RUN, ServiceProcess, serviceName, table, verdict, type LogLine } from './support.js';

export class OutOfStock extends ExpectedError {}

function parseQuantity(text: string): number {
  const n = Number.parseInt(text, 10);
  // The bug a log should lead you to: this line.
  if (Number.isNaN(n)) throw new TypeError(`quantity ${JSON.stringify(text)} is not a number`);
  return n;
}

/** No LoggingDependency, no try/catch: what enoki logs here, it logs for every service. */
export class Orders {
  static name = serviceName('pitfall_errors');

  @rpc
  order(item: string, quantity: string) {
    return { item, quantity: parseQuantity(quantity) };
  }

  /** The caller's fault: an ExpectedError, logged as a warning without a stack. */
  @rpc
  reserve(item: string) {
    throw new OutOfStock(`${item} is out of stock`);
  }

  /** The same bug in a pool thread: the thread's stack is logged on the main thread. */
  @rpc
  @cpuBound
  order_in_pool(item: string, quantity: string) {
    return { item, quantity: parseQuantity(quantity) };
  }
}

const LEVELS: Record<number, string> = { 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

async function main(): Promise<void> {
  const name = Orders.name;
  const service = await ServiceProcess.start(['scripts/pitfalls/errors.ts:Orders'], { POOL: { threads: 1 } });
  const failures: string[] = [];
  const rows: string[][] = [];
  try {
    await using client = await ClusterRpcProxy.connect(clientConfig(), { timeoutMs: 20_000 });
    const orders = client.service(name);
    const calls: Array<{ label: string; call: () => Promise<unknown>; method: string; expect: 'ok' | 'error' | 'warn' }> = [
      { label: "order('tea', '2')", method: 'order', call: () => orders.order('tea', '2'), expect: 'ok' },
      { label: "order('tea', 'two')", method: 'order', call: () => orders.order('tea', 'two'), expect: 'error' },
      { label: "reserve('tea')", method: 'reserve', call: () => orders.reserve('tea'), expect: 'warn' },
      { label: "order_in_pool('tea', 'two')  @cpuBound", method: 'order_in_pool', call: () => orders.order_in_pool('tea', 'two'), expect: 'error' },
    ];
    for (const { label, call, method, expect } of calls) {
      const before = service.logs.length;
      let callerSaw: string;
      try {
        callerSaw = `result ${JSON.stringify(await call())}`;
      } catch (err) {
        if (!(err instanceof RemoteError)) throw err;
        // INCLUDE_REMOTE_STACK is off (the default, and right for production): no stack here.
        callerSaw = `RemoteError ${err.excType}${err.remoteStack ? ' + stack' : ', no stack'}`;
      }
      // The log line is written after the reply; give it a moment to arrive.
      const about = (l: LogLine): boolean => (l.level ?? 0) >= 40 && typeof l.msg === 'string' && l.msg.includes(`.${method} raised`);
      let logged: LogLine | undefined;
      if (expect !== 'ok') logged = await service.waitFor((l) => service.logs.indexOf(l) >= before && about(l), 5_000, `a log line for ${label}`).catch(() => undefined);
      const stack = logged?.err?.stack ?? '';
      const where = /scripts\/pitfalls\/errors\.ts:(\d+)/.exec(stack);
      const logCell = !logged
        ? expect === 'ok'
          ? '-'
          : 'NOTHING'
        : `${LEVELS[logged.level ?? 0] ?? logged.level}: "${logged.msg?.replace(`_${RUN}`, '')}"${where ? `, stack at errors.ts:${where[1]}` : logged.err?.stack ? ', stack' : ''}`;
      rows.push([label, callerSaw, logCell]);

      if (expect === 'error' && !(logged && LEVELS[logged.level!] === 'error' && where)) failures.push(`${label}: no error-level log with a stack pointing into this file`);
      if (expect === 'warn' && !(logged && LEVELS[logged.level!] === 'warn')) failures.push(`${label}: the expected error was not logged as a warning`);
    }
  } finally {
    const code = await service.stop();
    if (code !== 0) failures.push(`enoki run exited ${code} on SIGTERM`);
    await deleteQueues([name]);
  }
  console.log(`\nWhat the caller sees, and what the service logged (no logging dependency, no config):\n`);
  console.log(table(['call', 'the caller gets', "the service's log"], rows));
  console.log('\nnameko by default: the caller gets the same RemoteError, and the service logs nothing.');
  verdict(failures, 'every failure was logged with the stack of the line that threw; the expected error as a warning.');
}

if (isEntry(import.meta.url)) await main();
