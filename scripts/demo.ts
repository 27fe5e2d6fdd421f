// `npm start`: the seed project end to end. Starts the example services with
// `enoki run` (a real separate process, on RabbitMQ) and calls them through a client.
// With no broker answering at AMQP_URI it runs the same services in this process on the
// in-memory transport instead, and says so. (`enoki run` itself never falls back.)

import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ClusterRpcProxy, loadConfig, maskUri, RemoteError, RpcTimeout, ServiceRunner, UnknownService, type EnokiConfig } from 'enoki';
import { GreetingService, Service2 } from '../services/index.js';
import { Shop, Warehouse } from '../services/shop/shop.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const configPath = `${root}config.yaml`;

function brokerAnswers(uri: string, timeoutMs = 1500): Promise<boolean> {
  const url = new URL(uri.replace(/^pyamqp:/, 'amqp:'));
  const port = Number(url.port || (url.protocol === 'amqps:' ? 5671 : 5672));
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

async function callEverything(config: EnokiConfig): Promise<void> {
  await using rpc = await ClusterRpcProxy.connect(config, { timeoutMs: 30_000 });
  const show = (what: string, value: unknown) => console.log(`  ${what.padEnd(46)} -> ${JSON.stringify(value)}`);
  show("greeting_service.hello('world')", await rpc.greeting_service.hello('world'));
  show("service2.hello_service2('nested')", await rpc.service2.hello_service2('nested'));
  const pending = rpc.greeting_service.hello.callAsync('async');
  show("greeting_service.hello.callAsync('async')", await pending.result());
  try {
    await rpc.greeting_service.raise_exception();
  } catch (err) {
    if (!(err instanceof RemoteError)) throw err;
    show('greeting_service.raise_exception()', `RemoteError ${err.excType}: ${err.value} (logged with its stack by the service)`);
  }
  const started = performance.now();
  const pings: number[] = [];
  const busy = rpc.greeting_service.computation_bound_pool(1);
  while (performance.now() - started < 900) {
    const t = performance.now();
    await rpc.greeting_service.hello('ping');
    pings.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 100));
  }
  show('greeting_service.computation_bound_pool(1)', await busy);
  console.log(`  ${pings.length} hello pings during that 1 s of @cpuBound work, slowest ${Math.max(...pings).toFixed(1)} ms`);

  // Events: shop dispatches order_placed inside the call; warehouse's handler reserves it.
  show("shop.place_order('teapot')", await rpc.shop.place_order('teapot'));
  const deadline = Date.now() + 10_000;
  let status = (await rpc.warehouse.status()) as { reserved: string[]; sweeps: number };
  while (!status.reserved.includes('teapot') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    status = (await rpc.warehouse.status()) as { reserved: string[]; sweeps: number };
  }
  show('warehouse.status() (event handled, timer ticking)', status);
}

/**
 * `enoki run` needs a moment to connect and bind its queues; until then a call fails with
 * UnknownService (retryable). On a broker that has never seen these services that is every
 * call made right after the spawn. On one that has (the queues outlive a run) the call
 * waits in the queue instead, and on a busy machine the start can outlast its 5-s timeout:
 * that is retried too.
 */
async function waitUntilServing(config: EnokiConfig, exited: Promise<number>): Promise<void> {
  await using rpc = await ClusterRpcProxy.connect(config, { timeoutMs: 5_000 });
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await rpc.greeting_service.hello('ready?');
      await rpc.service2.hello_service2('ready?');
      await rpc.warehouse.status();
      return;
    } catch (err) {
      if (!(err instanceof UnknownService || err instanceof RpcTimeout) || gone || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function main(): Promise<number> {
  const config = loadConfig(configPath);
  // An AMQP_URI list: the first node stands for the cluster here.
  const broker = typeof config.AMQP_URI === 'string' ? config.AMQP_URI : config.AMQP_URI[0]!;
  if (await brokerAnswers(broker)) {
    console.log(`RabbitMQ answers at ${maskUri(broker)}: starting the services with \`enoki run\`.`);
    const child = spawn(process.execPath, [`${root}bin/enoki.js`, 'run', '--config', configPath, 'services:GreetingService', 'services:Service2', 'services/shop/shop:Shop', 'services/shop/shop:Warehouse'], {
      cwd: root,
      env: { LOG_LEVEL: 'warn', ...process.env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
    try {
      await waitUntilServing(config, exited);
      await callEverything(config);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await exited;
    console.log(`enoki run stopped on SIGTERM with exit code ${code}.`);
    return code;
  }
  console.log(
    `RabbitMQ did not answer at ${maskUri(broker)}: running the same services in this process on memory:// instead.\n` +
      '  Start RabbitMQ with `rabbitmq-server -detached` (or set AMQP_URI) to run them over a real broker.',
  );
  const memory = loadConfig({ ...config, AMQP_URI: 'memory://demo', LOGGING: { level: 'warn' }, POOL: undefined, AMQP_SSL: null });
  const runner = new ServiceRunner(memory);
  runner.add(GreetingService, { module: new URL('../services/service1/service1.ts', import.meta.url).href, exportName: 'GreetingService' });
  runner.add(Service2);
  runner.add(Shop);
  runner.add(Warehouse);
  await runner.start();
  try {
    await callEverything(memory);
  } finally {
    await runner.stop();
  }
  return 0;
}

process.exitCode = await main();
