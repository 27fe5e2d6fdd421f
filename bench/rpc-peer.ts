// The service side of bench/rpc.ts, run as its own process so caller and service do not
// share an event loop (as in production, and as the numbers to beat were measured).
//
//   tsx bench/rpc-peer.ts <mode> <amqp uri> <exchange>
//
// Modes: enoki (the defaults: max_workers 10, MAX_PENDING_REPLIES 128, persistent, confirmed,
// JSON), enoki-mw128 (max_workers 128), enoki-transient (DELIVERY_MODE transient +
// PUBLISH_CONFIRMS false), enoki-msgpack (SERIALIZER msgpack), enoki-metrics (METRICS_ADDRESS
// set; prints "metrics <url>" for the caller to scrape from outside, as Prometheus does),
// enoki-otel (an OpenTelemetry SDK with the batch processor and an exporter that discards),
// enoki-otel-noctx (the same without a context manager), enoki-otlp (the Node SDK `enoki run`
// starts, exporting OTLP http/protobuf to the endpoint the parent passes in
// OTEL_EXPORTER_OTLP_ENDPOINT); raw and raw-minimal (plain amqplib, prefetch 128).
//
// Prints "ready" when consuming. On SIGTERM prints "cpu <µs>", its user + system CPU time since
// ready (per call, a cost measure that holds on a machine too busy for calls/s to), and exits.

import amqp from 'amqplib';
import { createLogger, loadConfig, rpc, ServiceRunner } from 'enoki';
import { registerDiscardingSdk } from './tracing-sdk.js';

const [mode, uri, exchange] = process.argv.slice(2) as [string, string, string];
/** The raw loops' prefetch: what a hand-written amqplib service would pick for throughput. */
const RAW_PREFETCH = 128;

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

/** The service's settings per enoki mode, over the defaults (replies follow the request's SERIALIZER anyway). */
const ENOKI_MODES: Record<string, object> = {
  enoki: {},
  'enoki-mw128': { max_workers: 128 },
  'enoki-transient': { DELIVERY_MODE: 'transient', PUBLISH_CONFIRMS: false },
  'enoki-msgpack': { SERIALIZER: 'msgpack' },
  'enoki-metrics': { METRICS_ADDRESS: '127.0.0.1:0' },
  'enoki-otel': {},
  'enoki-otel-noctx': {},
  'enoki-otlp': {},
};

/** enoki's SDK starter from the same copy of enoki as `enoki` (dist/ when bench/rpc.ts runs it, src/ otherwise). */
async function otelSdkModule(): Promise<typeof import('../src/tracing/otel-sdk.js')> {
  const fromDist = import.meta.resolve('enoki').includes('/dist/');
  return import(fromDist ? '../dist/src/tracing/otel-sdk.js' : '../src/tracing/otel-sdk.js');
}

const cpuAtReady = process.cpuUsage();
const reportCpu = (): void => {
  const used = process.cpuUsage(cpuAtReady);
  console.log(`cpu ${used.user + used.system}`);
};

if (mode in ENOKI_MODES) {
  const config = loadConfig({ AMQP_URI: uri, rpc_exchange: exchange, MAX_MESSAGE_SIZE: 64 * 1024 * 1024, LOGGING: { level: 'warn' }, ...ENOKI_MODES[mode] });
  const discarding = mode === 'enoki-otel' ? registerDiscardingSdk() : mode === 'enoki-otel-noctx' ? registerDiscardingSdk(false) : null;
  const sdk = discarding ?? (mode === 'enoki-otlp' ? await (await otelSdkModule()).startOtelSdk(['bench_service'], createLogger(config.LOGGING)) : null);
  const runner = new ServiceRunner(config);
  runner.add(BenchService);
  await runner.start();
  if (runner.metricsAddress) console.log(`metrics ${runner.metricsAddress.url}`);
  process.once('SIGTERM', () => {
    reportCpu();
    void runner
      .stop()
      .then(() => sdk?.shutdown())
      .then(() => {
        if (discarding) process.stderr.write(`  (${mode} service: ${discarding.exported()} spans exported)\n`);
        process.exit(0);
      });
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
  await consumer.prefetch(RAW_PREFETCH);
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
console.log('ready');
