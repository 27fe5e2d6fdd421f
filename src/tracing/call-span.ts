// The span of one handled call (RPC, HTTP, event, timer, direct): `<service>.<method>`,
// kind SERVER, a child of the trace context the call arrived with. The worker path runs
// the whole call inside it, so that the RPC calls and event dispatches the method makes
// are its children, and each call's log lines can carry its trace and span ids.

import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { SpawnOptions, WorkerOutcome } from '../extension-host.js';
import type { WorkerContext } from '../worker-context.js';
import { extractContext, tracer } from './otel.js';

const spans = new WeakMap<WorkerContext, Span>();

/**
 * Run one call (`run`) inside a new span named `<service>.<method>`. Called by the worker
 * path only when tracing is on. The span ends when the call's outcome is known (after its
 * teardown hooks), with an error status when the method threw.
 */
export function traceCall(serviceName: string, methodName: string, options: SpawnOptions, run: (span: Span) => Promise<WorkerOutcome>): Promise<WorkerOutcome> {
  // A message from the broker has no parent but the one its headers name; whatever context
  // was active when the connection was opened is not it. HTTP (and user-written kinds,
  // direct calls in tests) continue the active context: an HTTP instrumentation's span, or
  // a test's own.
  const base = options.entrypoint === 'rpc' || options.entrypoint === 'event' ? ROOT_CONTEXT : context.active();
  const parent = extractContext(base, options.traceHeaders);
  const attributes: Attributes = { 'enoki.service': serviceName, 'enoki.method': methodName, 'enoki.entrypoint': options.entrypoint };
  if (options.entrypoint === 'rpc') {
    attributes['rpc.system'] = 'nameko';
    attributes['rpc.service'] = serviceName;
    attributes['rpc.method'] = methodName;
  }
  if (options.traceAttributes) Object.assign(attributes, options.traceAttributes);
  const span = tracer().startSpan(`${serviceName}.${methodName}`, { kind: SpanKind.SERVER, attributes }, parent);
  return context.with(trace.setSpan(parent, span), run, undefined, span).then(
    (outcome) => {
      if (outcome.error) recordError(span, outcome.error);
      span.end();
      return outcome;
    },
    (err: unknown) => {
      recordError(span, err);
      span.end();
      throw err;
    },
  );
}

/** Ties the call's worker context to its span (for its log lines and its pool thread). */
export function bindCallSpan(ctx: WorkerContext, span: Span): void {
  spans.set(ctx, span);
}

/** The call's span, when the call is traced. */
export function callSpan(ctx: WorkerContext): Span | undefined {
  return spans.get(ctx);
}

/** The call's span's context, or the active one: what the work a call hands on continues. */
export function callContext(ctx: WorkerContext): Context {
  const span = spans.get(ctx);
  return span ? trace.setSpan(context.active(), span) : context.active();
}

/** `{ trace_id, span_id }` of a traced call, for its log lines; undefined when not traced. */
export function traceLogFields(ctx: WorkerContext): { trace_id: string; span_id: string } | undefined {
  const span = spans.get(ctx);
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** Marks `span` failed with `err`. */
export function recordError(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.name}: ${error.message}` });
}
