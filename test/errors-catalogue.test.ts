// Pins the ENOKI_ERR_* catalogue: callers match on codes, so a code must never be renamed,
// removed or silently change whether a retry can help. Adding a code means adding it here.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, EnokiError, IncorrectSignature, MethodNotFound, RemoteError, RpcTimeout, UnknownService, type ErrorCode } from 'enoki';
import type { ErrorSpec } from '../src/errors.js';
import { errorText } from '../src/http/response.js';
import { serializeError } from '../src/rpc/wire.js';

const PINNED: Record<string, boolean> = {
  ENOKI_ERR_CONFIG_FILE: false,
  ENOKI_ERR_CONFIG_INVALID: false,
  ENOKI_ERR_CONFIG_VAR: false,
  ENOKI_ERR_SERVICE_INVALID: false,
  ENOKI_ERR_SERVICE_LOAD: false,
  ENOKI_ERR_DECORATOR_USAGE: false,
  ENOKI_ERR_CONNECT: true,
  ENOKI_ERR_BROKER_AUTH: false,
  ENOKI_ERR_BROKER_VHOST: false,
  ENOKI_ERR_BROKER_REFUSED: true,
  ENOKI_ERR_BROKER_HOST: true,
  ENOKI_ERR_BROKER_TIMEOUT: true,
  ENOKI_ERR_BROKER_TLS: false,
  ENOKI_ERR_BROKER_PROTOCOL: false,
  ENOKI_ERR_BROKER_HANDSHAKE: true,
  ENOKI_ERR_DISCONNECTED: true,
  ENOKI_ERR_CLIENT_CLOSED: false,
  ENOKI_ERR_CONTAINER_STATE: false,
  ENOKI_ERR_UNKNOWN_SERVICE: true,
  ENOKI_ERR_METHOD_NOT_FOUND: false,
  ENOKI_ERR_INCORRECT_SIGNATURE: false,
  ENOKI_ERR_MALFORMED_REQUEST: false,
  ENOKI_ERR_REMOTE: false,
  ENOKI_ERR_RPC_TIMEOUT: true,
  ENOKI_ERR_PUBLISH: true,
  ENOKI_ERR_BODY_TOO_LARGE: false,
  ENOKI_ERR_NOT_CLONEABLE: false,
  ENOKI_ERR_WORKER_DIED: true,
  ENOKI_ERR_POOL_FULL: true,
  ENOKI_ERR_ABORTED: true,
  ENOKI_ERR_WAIT_TIMEOUT: true,
  ENOKI_ERR_HTTP_BODY: false,
  ENOKI_ERR_TESTING_USAGE: false,
  ENOKI_ERR_EVENT_PAYLOAD: false,
  ENOKI_ERR_DISPATCHER_CLOSED: false,
  ENOKI_ERR_EVENT_SOURCE: false,
  ENOKI_ERR_EVENT_TYPE: false,
  ENOKI_ERR_DUPLICATE_COPY: false,
  ENOKI_ERR_NO_ENTRYPOINTS: false,
  ENOKI_ERR_BATCH_RESULT: false,
  ENOKI_ERR_METRICS_LISTEN: false,
  ENOKI_ERR_CONSUMER_TIMEOUT: false,
  ENOKI_ERR_REPLY_QUEUE_LOST: true,
  ENOKI_ERR_LONG_TASK_BROKER: false,
  ENOKI_ERR_CONSUMER_TIMEOUT_ARGUMENT: false,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error catalogue', () => {
  it('has exactly the pinned codes with the pinned retryability', () => {
    const actual = Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([code, spec]) => [code, spec.retryable]));
    expect(actual).toEqual(PINNED);
  });

  it('every code follows ENOKI_ERR_<UPPER_SNAKE> and has a message template', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOGUE)) {
      expect(code).toMatch(/^ENOKI_ERR_[A-Z]+(_[A-Z]+)*$/);
      expect(spec.message.length).toBeGreaterThan(0);
    }
  });

  it('every code the runtime raises is in the catalogue, and every catalogue code is raised somewhere', () => {
    const files = [...sources('src'), ...sources('workers')].filter((f) => !f.endsWith('errors.ts'));
    const used = new Set(files.flatMap((f) => readFileSync(f, 'utf8').match(/ENOKI_ERR_[A-Z_]+/g) ?? []));
    const errorsFile = readFileSync('src/errors.ts', 'utf8');
    // Codes raised through the nameko-named classes in errors.ts count as used.
    for (const m of errorsFile.matchAll(/super\('(ENOKI_ERR_[A-Z_]+)'/g)) used.add(m[1]!);
    for (const code of used) expect(Object.keys(ERROR_CATALOGUE)).toContain(code);
    for (const code of Object.keys(ERROR_CATALOGUE)) expect([...used], `${code} is never raised`).toContain(code);
  });

  it('errors carry code, retryable and a formatted message', () => {
    const err = new EnokiError('ENOKI_ERR_RPC_TIMEOUT', ['svc.m', 100]);
    expect(err.code).toBe('ENOKI_ERR_RPC_TIMEOUT');
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('call svc.m got no reply within 100 ms');
    expect(err.name).toBe('EnokiError');
    expect(new RpcTimeout('a.b', 5)).toMatchObject({ name: 'RpcTimeout', code: 'ENOKI_ERR_RPC_TIMEOUT', timeoutMs: 5 });
    expect(new MethodNotFound('nope')).toMatchObject({ name: 'MethodNotFound', message: 'nope' });
    expect(new IncorrectSignature('x')).toBeInstanceOf(EnokiError);
    expect(new UnknownService('s', 's.m', 'ex').message).toContain('s.m');
    expect(new RemoteError('ValueError', 'bad')).toMatchObject({ excType: 'ValueError', value: 'bad', message: 'ValueError bad' });
  });
});

describe('what callers are told', () => {
  const PATH = '/srv/app/services/secret-module.ts';
  const HOST = 'amqp://deploy:***@rabbit-prod-7.internal:5672/billing';

  it('an internal error reaches a caller (RPC reply, HTTP body) as its code only; the log keeps the whole message', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOGUE) as Array<[ErrorCode, ErrorSpec]>) {
      const err = new EnokiError(code, [PATH, HOST, PATH, HOST]);
      const wire = JSON.stringify(serializeError(err, false));
      const body = errorText(err);
      expect(wire, code).not.toContain('"stack"');
      if (spec.internal) {
        for (const told of [wire, body]) {
          expect(told, code).not.toContain(PATH);
          expect(told, code).not.toContain('rabbit-prod-7');
          expect(told, code).toContain(code);
        }
        // With INCLUDE_REMOTE_STACK on (development), the whole message goes.
        expect(JSON.stringify(serializeError(err, true)), code).toContain(PATH);
      } else {
        expect(serializeError(err, false).value, code).toBe(err.message);
      }
      expect(err.message, code).toContain(spec.message.includes('%s') ? PATH : spec.message);
    }
  });

  it('marks as internal every code raised with file paths, hosts or config values', () => {
    const internal = Object.entries(ERROR_CATALOGUE as Record<string, ErrorSpec>).filter(([, s]) => s.internal).map(([c]) => c);
    expect(internal.sort()).toEqual(
      [
        'ENOKI_ERR_BROKER_AUTH',
        'ENOKI_ERR_BROKER_HANDSHAKE',
        'ENOKI_ERR_BROKER_HOST',
        'ENOKI_ERR_BROKER_PROTOCOL',
        'ENOKI_ERR_BROKER_REFUSED',
        'ENOKI_ERR_BROKER_TIMEOUT',
        'ENOKI_ERR_BROKER_TLS',
        'ENOKI_ERR_BROKER_VHOST',
        'ENOKI_ERR_CONFIG_FILE',
        'ENOKI_ERR_CONFIG_INVALID',
        'ENOKI_ERR_CONFIG_VAR',
        'ENOKI_ERR_CONNECT',
        'ENOKI_ERR_CONSUMER_TIMEOUT',
        'ENOKI_ERR_CONSUMER_TIMEOUT_ARGUMENT',
        'ENOKI_ERR_DISCONNECTED',
        'ENOKI_ERR_DUPLICATE_COPY',
        'ENOKI_ERR_LONG_TASK_BROKER',
        'ENOKI_ERR_METRICS_LISTEN',
        'ENOKI_ERR_NO_ENTRYPOINTS',
        'ENOKI_ERR_PUBLISH',
        'ENOKI_ERR_REPLY_QUEUE_LOST',
        'ENOKI_ERR_SERVICE_INVALID',
        'ENOKI_ERR_SERVICE_LOAD',
      ].sort(),
    );
  });
});
