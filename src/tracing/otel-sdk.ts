// `enoki run` starts the OpenTelemetry Node SDK when the standard OTEL_* environment
// variables ask for a trace exporter, so setting them is all a user does:
//
//   OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 enoki run services
//
// The SDK (@opentelemetry/sdk-node, with its exporters) is imported only then: a process
// that does not trace never loads it. It exports traces only, unless OTEL_METRICS_EXPORTER
// or OTEL_LOGS_EXPORTER asks for more (the SDK alone would also export metrics and logs to
// the same endpoint by default).

import type { Logger } from 'pino';
import { maskUri } from '../uri-secrets.js';

/** The running SDK: `shutdown()` flushes spans not yet exported. */
export interface OtelSdk {
  shutdown(): Promise<void>;
}

/**
 * Whether `env` asks for traces to be exported: OTEL_TRACES_EXPORTER set (to anything but
 * `none`), or an OTLP endpoint given (OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) without OTEL_TRACES_EXPORTER; never when
 * OTEL_SDK_DISABLED is true.
 */
export function otelExportRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (exporters.length > 0) return !(exporters.length === 1 && exporters[0] === 'none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Start the Node SDK configured from the environment, if it asks for an exporter (see
 * {@link otelExportRequested}); null otherwise. `serviceNames` name the resource when
 * neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES does.
 */
export async function startOtelSdk(serviceNames: readonly string[], logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<OtelSdk | null> {
  if (!otelExportRequested(env)) return null;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const named = Boolean(env.OTEL_SERVICE_NAME?.trim()) || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sdk = new NodeSDK({
    serviceName: named || serviceNames.length === 0 ? undefined : serviceNames.join(','),
    // Empty lists mean "none": an explicit OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER is left to the SDK.
    ...(env.OTEL_METRICS_EXPORTER?.trim() ? {} : { metricReaders: [] }),
    ...(env.OTEL_LOGS_EXPORTER?.trim() ? {} : { logRecordProcessors: [] }),
  });
  sdk.start();
  const exporter = env.OTEL_TRACES_EXPORTER?.trim() || 'otlp';
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  logger.info({ exporter, endpoint: endpoint && maskUri(endpoint), protocol: env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf' }, 'OpenTelemetry tracing on');
  return sdk;
}

/**
 * Run `body` with the SDK started as {@link startOtelSdk} starts it, and shut it down after,
 * whatever `body` did, so the spans it made are exported before the process exits. What
 * `enoki run`, `enoki call` and `enoki shell` share.
 */
export async function withOtelSdk<T>(serviceNames: readonly string[], logger: Logger, body: () => Promise<T>, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  const sdk = await startOtelSdk(serviceNames, logger, env);
  try {
    return await body();
  } finally {
    // The batch processor holds the spans of the last calls: flush them before exiting.
    await sdk?.shutdown().catch((err: unknown) => logger.warn({ err }, 'OpenTelemetry SDK shutdown failed'));
  }
}
