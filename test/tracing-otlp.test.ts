// `enoki run`, `enoki call` and `enoki shell` export traces when the standard OTEL_*
// variables ask, with nothing else configured: a tiny OTLP/HTTP receiver in this test takes
// the POSTs to /v1/traces. The batch processor holds spans for up to 5 s; SIGTERM's graceful
// stop, and the end of a call or a shell, flush them.

import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig } from '../src/index.js';
import { otelExportRequested } from '../src/tracing/otel-sdk.js';
import { ROOT, startEnoki, stopProcess, type ServiceProcess } from './faults/harness.js';
import { createVhost, type TestVhost } from './support/vhost.js';

interface Post {
  path: string;
  contentType: string | undefined;
  body: Buffer;
}

let vhost: TestVhost;
let receiver: Server;
let endpoint: string;
const posts: Post[] = [];

beforeAll(async () => {
  vhost = createVhost('tracing-otlp');
  receiver = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: Buffer.concat(chunks) });
      // An empty ExportTraceServiceResponse: accepted in full.
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end(req.headers['content-type']?.includes('json') ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
  vhost?.remove();
});

/** Run cli_service with `env`, make one call, stop it with SIGTERM; the POSTs it made. */
async function runAndCall(env: NodeJS.ProcessEnv): Promise<{ posts: Post[]; output: string }> {
  posts.length = 0;
  let proc: ServiceProcess | undefined;
  try {
    proc = await startEnoki(['test/fixtures/cli-service.ts:CliService', '--broker', vhost.uri], env, 60_000);
    const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }), { timeoutMs: 20_000 });
    try {
      expect(await client.cli_service!.hello('otel')).toBe('Hello, otel!');
    } finally {
      await client.close();
    }
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    return { posts: [...posts], output: proc.output() };
  } finally {
    await stopProcess(proc);
  }
}

interface OtlpSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  /** The resource's service.name, copied onto the span here. */
  service: string;
}

/** The spans of OTLP http/json POSTs, each with its resource's service.name. */
function jsonSpans(from: Post[]): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  for (const post of from.filter((p) => p.path === '/v1/traces')) {
    const body = JSON.parse(post.body.toString('utf8')) as {
      resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<Omit<OtlpSpan, 'service'>> }> }>;
    };
    for (const rs of body.resourceSpans) {
      const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
      for (const ss of rs.scopeSpans) spans.push(...ss.spans.map((s) => ({ ...s, service })));
    }
  }
  return spans;
}

/** `enoki <args>` with `env` and `stdin`; its exit code and output. */
function enoki(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/enoki.js', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('enoki run with OTEL_* variables', () => {
  it('OTLP over http/json: the call span arrives at /v1/traces, named and under the service name', async () => {
    const { posts: got, output } = await runAndCall({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    expect(output).toContain('OpenTelemetry tracing on');
    const traces = got.filter((p) => p.path === '/v1/traces');
    expect(traces.length).toBeGreaterThanOrEqual(1);
    expect(traces[0]!.contentType).toContain('application/json');
    // Traces only: no metrics or logs were asked for, so none are sent.
    expect(got.filter((p) => p.path !== '/v1/traces')).toEqual([]);
    const spans: Array<{ name: string; kind: number; traceId: string }> = [];
    const resources: unknown[] = [];
    for (const post of traces) {
      const body = JSON.parse(post.body.toString('utf8')) as {
        resourceSpans: Array<{ resource: { attributes: unknown[] }; scopeSpans: Array<{ spans: Array<{ name: string; kind: number; traceId: string }> }> }>;
      };
      for (const rs of body.resourceSpans) {
        resources.push(...rs.resource.attributes);
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
    }
    // OTLP's SpanKind: 2 is SERVER.
    expect(spans.filter((s) => s.name === 'cli_service.hello' && s.kind === 2)).toHaveLength(1);
    expect(resources).toContainEqual({ key: 'service.name', value: { stringValue: 'cli_service' } });
  }, 90_000);

  it('an OTLP endpoint alone is enough (http/protobuf, the default)', async () => {
    const { posts: got } = await runAndCall({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    const traces = got.filter((p) => p.path === '/v1/traces');
    expect(traces.length).toBeGreaterThanOrEqual(1);
    expect(traces[0]!.contentType).toBe('application/x-protobuf');
    // Protobuf keeps strings as UTF-8 bytes.
    expect(Buffer.concat(traces.map((p) => p.body)).includes('cli_service.hello')).toBe(true);
  }, 90_000);

  it('enoki call and enoki shell start the SDK too: the terminal call is the root span, the service span its child', async () => {
    const env = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
    posts.length = 0;
    let proc: ServiceProcess | undefined;
    try {
      proc = await startEnoki(['test/fixtures/cli-service.ts:CliService', '--broker', vhost.uri], env, 60_000);
      const call = await enoki(['call', '--broker', vhost.uri, 'cli_service.hello', 'from-call'], env);
      expect(call).toMatchObject({ code: 0, stdout: 'Hello, from-call!\n' });
      const shell = await enoki(['shell', '--broker', vhost.uri], env, "await n.rpc.cli_service.hello('from-shell')\n");
      expect(shell.code, shell.stderr).toBe(0);
      expect(shell.stdout).toContain('Hello, from-shell!');
      proc.child.kill('SIGTERM');
      expect((await proc.exited).code).toBe(0);
    } finally {
      await stopProcess(proc);
    }
    const spans = jsonSpans(posts);
    // OTLP's SpanKind: 2 is SERVER, 3 is CLIENT.
    for (const terminal of ['enoki_call', 'enoki_shell']) {
      const roots = spans.filter((s) => s.service === terminal);
      expect(roots.map((s) => [s.name, s.kind]), terminal).toEqual([['cli_service.hello', 3]]);
      const root = roots[0]!;
      expect(root.parentSpanId ?? '', `${terminal} span has no parent`).toBe('');
      const served = spans.filter((s) => s.service === 'cli_service' && s.traceId === root.traceId);
      expect(served.map((s) => [s.name, s.kind, s.parentSpanId]), terminal).toEqual([['cli_service.hello', 2, root.spanId]]);
    }
  }, 90_000);

  it('asks for an exporter only through the OTEL_* variables', () => {
    expect(otelExportRequested({})).toBe(false);
    expect(otelExportRequested({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
    expect(otelExportRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })).toBe(false);
    expect(otelExportRequested({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(otelExportRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(otelExportRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces` })).toBe(true);
  });
});
