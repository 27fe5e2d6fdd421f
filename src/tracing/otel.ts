// enoki's one door to OpenTelemetry: is an SDK registered, the tracer, and how trace
// context is read from and written to message and HTTP headers.
//
// Only @opentelemetry/api is imported here: with no SDK registered it is a no-op, and the
// hot path asks `tracingOn()` first so that an untraced call pays one global lookup and
// nothing else (no span objects, no context switches, no header writes).

import { context, propagation, ProxyTracerProvider, trace, type Context, type TextMapGetter, type TextMapSetter, type Tracer, type TracerProvider } from '@opentelemetry/api';

/** Where @opentelemetry/api 1.x keeps what is registered globally (its `trace` is the tracer provider). */
const GLOBAL_KEY = Symbol.for('opentelemetry.js.api.1');

/** The provider the API hands out while no SDK is registered. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

let cachedProvider: TracerProvider | null = null;
let cachedTracer: Tracer | null = null;

/**
 * True when an OpenTelemetry SDK (a TracerProvider) is registered globally. Read on every
 * call rather than once: a test, or an application that sets up its SDK after importing
 * enoki, may register one at any time.
 */
export function tracingOn(): boolean {
  // The API's global registry, read directly: trace.getTracerProvider() also checks the
  // registering API's version on every read, several times the cost of this (measured:
  // 70 ns against a few), and this runs on both sides of every call. A provider an
  // incompatible API registered would make no-op spans here: harmless.
  const provider = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[GLOBAL_KEY]?.trace;
  if (provider === undefined) return false;
  // Another copy of @opentelemetry/api may have registered its own proxy class: anything
  // that is not our proxy with a no-op delegate is a real provider.
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

/** enoki's tracer, from the provider registered now. */
export function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (provider !== cachedProvider || cachedTracer === null) {
    cachedProvider = provider;
    cachedTracer = provider.getTracer('enoki');
  }
  return cachedTracer;
}

/**
 * Where a Python nameko service puts trace context it passed on. nameko 2.x keeps every
 * header of a message it handles as context data (`traceparent` too) and sends all its
 * context data on as `nameko.<key>` headers; so behind a Python hop the trace context
 * arrives as `nameko.traceparent`. It is read from there when the bare header is missing.
 */
const NAMEKO_PREFIX = 'nameko.';

/** The W3C trace context headers: read by the propagator, never kept as context data. */
export const TRACE_CONTEXT_KEYS: ReadonlySet<string> = new Set(['traceparent', 'tracestate']);

function headerValue(value: unknown): string | string[] | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  return undefined;
}

/** Reads AMQP headers (strings or Buffers) and Node's HTTP headers alike; own keys only. */
const headerGetter: TextMapGetter<Readonly<Record<string, unknown>>> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    if (Object.hasOwn(carrier, key)) return headerValue(carrier[key]);
    const prefixed = NAMEKO_PREFIX + key;
    return Object.hasOwn(carrier, prefixed) ? headerValue(carrier[prefixed]) : undefined;
  },
};

const headerSetter: TextMapSetter<Record<string, unknown>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

/** `base` with the trace context the headers carry (if any), via the registered propagator. */
export function extractContext(base: Context, headers: Readonly<Record<string, unknown>> | undefined): Context {
  return headers ? propagation.extract(base, headers, headerGetter) : base;
}

/** Write `ctx`'s trace context into outgoing `headers` (traceparent, tracestate, ...). */
export function injectContext(ctx: Context, headers: Record<string, unknown>): void {
  propagation.inject(ctx, headers, headerSetter);
}

export { context };
