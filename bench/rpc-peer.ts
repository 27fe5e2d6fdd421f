// The service side of bench/rpc.ts, run as its own process so caller and service do not
// share an event loop (as in production, and as the numbers to beat were measured).
//   tsx bench/rpc-peer.ts <enoki|enoki-transient|enoki-msgpack|enoki-otel|enoki-otel-noctx|enoki-otlp|raw|raw-minimal> <amqp uri> <exchange> <prefetch>
// Prints "ready" when consuming; exits on SIGTERM.
//
// Traced modes (OpenTelemetry, every call sampled):
//   enoki-otel  an SDK (NodeTracerProvider) with the batch span processor and an exporter
//               that discards: the cost of making spans and carrying context, no export.
//   enoki-otlp  what `enoki run` does with OTEL_EXPORTER_OTLP_ENDPOINT set (the parent
//               passes it): the Node SDK exporting OTLP http/protobuf to bench/rpc.ts's sink.

import amqp from 'amqplib';
import { createLogger, loadConfig, rpc, ServiceRunner } from 'enoki';
import { startOtelSdk } from '../src/tracing/otel-sdk.js';
import { registerDiscardingSdk } from './tracing-sdk.js';

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
  'enoki-otel': {},
  'enoki-otel-noctx': {},
  'enoki-otlp': {},
};

if (mode in ENOKI_MODES) {
  const config = loadConfig({ AMQP_URI: uri, rpc_exchange: exchange, max_workers: prefetch, MAX_MESSAGE_SIZE: 64 * 1024 * 1024, LOGGING: { level: 'warn' }, ...ENOKI_MODES[mode] });
  const discarding = mode === 'enoki-otel' ? registerDiscardingSdk() : mode === 'enoki-otel-noctx' ? registerDiscardingSdk(false) : null;
  const sdk = discarding ?? (mode === 'enoki-otlp' ? await startOtelSdk(['bench_service'], createLogger(config.LOGGING)) : null);
  const runner = new ServiceRunner(config);
  runner.add(BenchService);
  await runner.start();
  process.once('SIGTERM', () =>
    void runner
      .stop()
      .then(() => sdk?.shutdown())
      .then(() => {
        if (discarding) process.stderr.write(`  (${mode} service: ${discarding.exported()} spans exported)\n`);
        process.exit(0);
      }),
  );
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
  process.once('SIGTERM', () => void conn.close().then(() => process.exit(0)));
}
console.log('ready');
