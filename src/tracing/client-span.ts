// The caller's side of a traced RPC call or event dispatch: a span of kind CLIENT, a child
// of the active context (the calling method's span, or a span of the caller's own), whose
// trace context goes out in the message's headers (`traceparent`, `tracestate`) for the
// receiving call's span to continue. Python nameko ignores these headers as trace context:
// it keeps them as context data (src/tracing/otel.ts says what comes of that).

import { context, SpanKind, trace, type Attributes, type Span } from '@opentelemetry/api';
import { recordError } from './call-span.js';
import { injectContext, tracer } from './otel.js';

/** Start a CLIENT span named `name` and write its trace context into `headers`. */
export function startClientSpan(name: string, headers: Record<string, unknown>, attributes: Attributes): Span {
  const parent = context.active();
  const span = tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
  injectContext(trace.setSpan(parent, span), headers);
  return span;
}

/** End `span` when `settled` settles: with an error status if it rejects. Never rejects itself. */
export function endWhenSettled(span: Span, settled: Promise<unknown>): void {
  settled.then(
    () => span.end(),
    (err: unknown) => {
      recordError(span, err);
      span.end();
    },
  );
}
