// Unit tests of the wire codec beyond what the nameko captures show.

import { describe, expect, it } from 'vitest';
import { EnokiError, RemoteError } from 'enoki';
import { decodeRequest, deserializeError, serializeError } from '../src/rpc/wire.js';

describe('error codec', () => {
  it("carries an enoki error's code to an enoki caller, as a RemoteError a nameko caller can read", () => {
    const wire = serializeError(new EnokiError('ENOKI_ERR_WORKER_DIED', ['svc.m', 'exit code 1']));
    expect(wire).toMatchObject({ exc_type: 'EnokiError', exc_path: 'enoki.errors.ENOKI_ERR_WORKER_DIED' });
    const back = deserializeError(wire);
    expect(back).toBeInstanceOf(RemoteError);
    expect(back).toMatchObject({ remoteCode: 'ENOKI_ERR_WORKER_DIED', excType: 'EnokiError' });
  });

  it('a plain error has no remote code; a custom excPath wins over the code', () => {
    expect((deserializeError(serializeError(new TypeError('x'))) as RemoteError).remoteCode).toBeUndefined();
    class Custom extends EnokiError {
      static excPath = 'app.Custom';
    }
    expect(serializeError(new Custom('ENOKI_ERR_ABORTED', ['a', 'b'])).exc_path).toBe('app.Custom');
  });

  it('stringifies non-Error throws and Python-style args', () => {
    expect(serializeError('just text')).toEqual({ exc_type: 'Error', exc_path: 'enoki.Error', exc_args: ['just text'], value: 'just text' });
    const err = Object.assign(new Error('m'), { args: ['a', 1, { b: 2 }] });
    expect(serializeError(err).exc_args).toEqual(['a', '1', '{"b":2}']);
  });
});

describe('request codec', () => {
  const props = { contentType: 'application/json' };
  it('refuses what is not {"args": [...], "kwargs": {...}}', () => {
    for (const body of ['nope', '[]', '{"args": {}}', '{"kwargs": []}', 'null']) {
      expect(() => decodeRequest(Buffer.from(body), props)).toThrow(expect.objectContaining({ name: 'MalformedRequest' }));
    }
    expect(() => decodeRequest(Buffer.from('{}'), { contentType: 'application/x-python-serialize' })).toThrow(/content type/);
  });
  it('defaults missing args and kwargs, as nameko', () => {
    expect(decodeRequest(Buffer.from('{}'), props)).toEqual({ args: [], kwargs: {} });
  });
});
