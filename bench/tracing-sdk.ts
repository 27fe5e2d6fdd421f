// An OpenTelemetry SDK for the benches: a NodeTracerProvider (AsyncLocalStorage context,
// W3C propagation) with the batch span processor, as a production SDK is set up, and an
// exporter that counts spans and drops them: what tracing costs enoki and the SDK, without
// the exporter's serialization and network.

import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { context, propagation, trace } from '@opentelemetry/api';

export interface BenchSdk {
  /** Spans handed to the exporter so far. */
  exported(): number;
  /** Flush and unregister. */
  shutdown(): Promise<void>;
}

/** `withContextManager: false` registers no context manager (a measurement of its cost only). */
export function registerDiscardingSdk(withContextManager = true): BenchSdk {
  let count = 0;
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done) {
      count += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => undefined,
  };
  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register(withContextManager ? {} : { contextManager: null });
  return {
    exported: () => count,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
