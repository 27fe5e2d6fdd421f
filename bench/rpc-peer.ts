// The service side of bench/rpc.ts, run as its own process so caller and service do not
// share an event loop (as in production, and as the numbers to beat were measured).
//   tsx bench/rpc-peer.ts <enoki|enoki-transient|enoki-msgpack|enoki-metrics|raw|raw-minimal> <amqp uri> <exchange> <prefetch>
// enoki-metrics is enoki with METRICS_ADDRESS set; it prints "metrics <url>" for the caller
// to scrape (from outside, as Prometheus does: a scraper here would bill its own fetch).
// Prints "ready" when consuming; on SIGTERM prints "cpu <µs>" (its user + system CPU time
// since ready: per call, it measures cost even on a machine too busy for calls/s to) and exits.

import amqp from 'amqplib';
import { loadConfig, rpc, ServiceRunner } from 'enoki';

const [mode, uri, exchange, prefetchText] = process.argv.slice(2) as [string, string, string, string];
const prefetch = Number(prefetchText);

class BenchService {
  static name = 'bench_service';
  @rpc hello(name: string) {
    return `Hello, ${name}!`;
  }
  /** The inference case: a large float array in, a small answer out (number[] by JSON, Float32Array by msgpack). */
  @rpc sum(values: ArrayLike<number>) {
    let total = 0;
    for (let i = 0; i < values.length; i++) total += values[i]!;
    return total;
  }
}

/** The service's settings per enoki mode (replies follow the request's SERIALIZER anyway). */
const ENOKI_MODES: Record<string, object> = {
  enoki: {},
  'enoki-transient': { DELIVERY_MODE: 'transient', PUBLISH_CONFIRMS: false },
  'enoki-msgpack': { SERIALIZER: 'msgpack' },
  'enoki-metrics': { METRICS_ADDRESS: '127.0.0.1:0' },
};

if (mode in ENOKI_MODES) {
  const runner = new ServiceRunner(
    loadConfig({ AMQP_URI: uri, rpc_exchange: exchange, max_workers: prefetch, MAX_MESSAGE_SIZE: 64 * 1024 * 1024, LOGGING: { level: 'warn' }, ...ENOKI_MODES[mode] }),
  );
  runner.add(BenchService);
  await runner.start();
  if (runner.metricsAddress) console.log(`metrics ${runner.metricsAddress.url}`);
  process.once('SIGTERM', () => {
    reportCpu();
    void runner.stop().then(() => process.exit(0));
  });
} else {
  // The practical limit: the same request/reply with plain amqplib. 'raw' does the same
  // protocol work as enoki (persistent messages, reply confirmed before the request is
  // acked); 'raw-minimal' drops the guarantees (transient, ack at once) to show the floor.
  const durable = mode === 'raw';
  const conn = await amqp.connect(uri, { noDelay: true });
  const consumer = await conn.createChannel();
  const publisher = await conn.createConfirmChannel();
  await consumer.assertExchange(exchange, 'topic', { durable: true });
  await consumer.assertQueue('rpc-bench_service', { durable: true });
  await consumer.bindQueue('rpc-bench_service', exchange, 'bench_service.*');
  await consumer.prefetch(prefetch);
  await consumer.consume('rpc-bench_service', (msg) => {
    if (!msg) return;
    const { args } = JSON.parse(msg.content.toString()) as { args: [string] };
    const body = Buffer.from(JSON.stringify({ result: `Hello, ${args[0]}!`, error: null }));
    const options = { correlationId: msg.properties.correlationId, contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: durable ? 2 : 1 };
    if (durable) publisher.publish(exchange, msg.properties.replyTo, body, options, () => consumer.ack(msg));
    else {
      publisher.publish(exchange, msg.properties.replyTo, body, options);
      consumer.ack(msg);
    }
  });
  process.once('SIGTERM', () => {
    reportCpu();
    void conn.close().then(() => process.exit(0));
  });
}
const cpuAtReady = process.cpuUsage();
function reportCpu(): void {
  const used = process.cpuUsage(cpuAtReady);
  console.log(`cpu ${used.user + used.system}`);
}
console.log('ready');
