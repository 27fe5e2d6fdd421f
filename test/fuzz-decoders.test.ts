// Property-based tests (fast-check) of the code that reads outside input: whatever arrives,
// each decoder answers with a value or its own coded refusal, never another exception, a
// hang, or a polluted Object.prototype.
//
//   the RPC wire decoder     any bytes, any content type    -> a request, or MalformedRequest
//   the reply decoder        any bytes                      -> a reply, MalformedRequest or SyntaxError
//   nameko.* headers         any header table               -> context data and a string call id stack
//   the untrusted JSON parse any JSON text, poisoned or not -> JSON.parse's value, or a refusal
//   signature binding        any parameter list, args/kwargs -> bound arguments, or IncorrectSignature
//   HTTP body parsing        any bytes, any content type    -> a body, or BodyError (400/413/415)
//
// `npm test` runs them with a fixed seed and FUZZ_RUNS (default 300) cases each, so CI is
// reproducible; `npm run fuzz` runs them longer with a fresh seed (FUZZ_SECONDS, default 60,
// split among the properties). A failure prints the seed and the shrunk counterexample.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IncorrectSignature, MalformedRequest } from '../src/errors.js';
import { contextFromHeaders } from '../src/context-headers.js';
import { BodyError, parseBody } from '../src/http/request.js';
import { decodeReply, decodeRequest } from '../src/rpc/wire.js';
import { bindArguments, type Signature } from '../src/signature.js';
import { parseUntrustedJson, PoisonedJsonError } from '../src/untrusted-json.js';

const LONG = process.env.ENOKI_FUZZ === 'long';
const PROPERTIES = 6;
const runs = Number(process.env.FUZZ_RUNS ?? 300);
const seconds = Number(process.env.FUZZ_SECONDS ?? 60);
/** A fixed seed in `npm test` (reproducible CI); a fresh one per run under `npm run fuzz`. */
const params: fc.Parameters<unknown> = LONG
  ? { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: (seconds * 1000) / PROPERTIES, markInterruptAsFailure: false }
  : { numRuns: runs, seed: 20261202 };
const TIMEOUT = LONG ? (seconds * 1000) / PROPERTIES + 30_000 : 60_000;

/** Bytes that are sometimes JSON-ish: plain random bytes rarely get past the first character. */
const jsonish = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.json().map((t) => Buffer.from(t)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify({ args: v, kwargs: v }))),
  fc.tuple(fc.constantFrom('__proto__', '\\u005f_proto__', 'constructor', 'prototype', 'args', 'kwargs'), fc.jsonValue()).map(([k, v]) => Buffer.from(`{"${k}": ${JSON.stringify(v)}, "args": [{"${k}": {"polluted": true}}], "kwargs": {}}`)),
);
const contentType = fc.option(fc.oneof(fc.constantFrom('application/json', 'text/json', 'application/x-json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'text/plain; charset=nope', 'application/octet-stream'), fc.string()), { nil: undefined });

function noPollution(): void {
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

describe('fuzz: decoders of outside input', () => {
  it('decodeRequest: a request or MalformedRequest, for any bytes and content type', () => {
    fc.assert(
      fc.property(jsonish, contentType, (body, type) => {
        try {
          const { args, kwargs } = decodeRequest(body, { contentType: type, headers: {} } as never);
          expect(Array.isArray(args)).toBe(true);
          expect(typeof kwargs).toBe('object');
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedRequest);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('decodeReply: a reply, MalformedRequest, or SyntaxError for text that is not JSON', () => {
    fc.assert(
      fc.property(jsonish, (body) => {
        try {
          const reply = decodeReply(body);
          expect(reply).toHaveProperty('result');
          expect(reply).toHaveProperty('error');
        } catch (err) {
          expect(err instanceof MalformedRequest || err instanceof SyntaxError).toBe(true);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('contextFromHeaders: context data and a list of strings, for any header table', () => {
    const header = fc.oneof(fc.constantFrom('nameko.call_id_stack', 'nameko.__proto__', 'nameko.constructor', 'nameko.user_id', 'nameko.language', 'x-other'), fc.string().map((s) => `nameko.${s}`), fc.string());
    fc.assert(
      fc.property(fc.dictionary(header, fc.anything({ maxDepth: 3 })), (headers) => {
        const { contextData, callIdStack } = contextFromHeaders(headers);
        expect(typeof contextData).toBe('object');
        expect(callIdStack.every((id) => typeof id === 'string')).toBe(true);
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('parseUntrustedJson: what JSON.parse gives for clean text; a refusal for poisoned text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.jsonValue().map((v) => JSON.stringify({ a: [v, { ['__proto__']: v }] }).replace('"__proto__"', '"\\u005f_proto__"'))), (text) => {
        try {
          expect(parseUntrustedJson(text)).toEqual(JSON.parse(text));
        } catch (err) {
          expect(err).toBeInstanceOf(PoisonedJsonError);
          expect(text).toMatch(/proto|constructor/);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('bindArguments: bound arguments or IncorrectSignature, for any parameter list and call', () => {
    const param = fc.record({ name: fc.option(fc.constantFrom('a', 'b', 'c', 'kw', '__proto__', 'constructor'), { nil: undefined }), hasDefault: fc.boolean(), rest: fc.constant(false) });
    const signature = fc.tuple(fc.array(param, { maxLength: 5 }), fc.boolean()).map(([ps, rest]): Signature => {
      const params = rest ? [...ps, { name: 'more', hasDefault: false, rest: true }] : ps;
      const firstOptional = params.findIndex((p) => p.hasDefault || p.rest);
      return { method: 'm', params, required: firstOptional < 0 ? params.length : firstOptional, hasRest: rest };
    });
    const kwargs = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'kw', 'more', 'zzz', '__proto__', 'constructor', 'toString'), fc.jsonValue(), { maxKeys: 4 });
    fc.assert(
      fc.property(signature, fc.array(fc.jsonValue(), { maxLength: 7 }), kwargs, (sig, args, kw) => {
        try {
          const bound = bindArguments(sig, args, kw);
          expect(Array.isArray(bound)).toBe(true);
          expect(bound.length).toBeGreaterThanOrEqual(Math.min(args.length, sig.params.length));
        } catch (err) {
          expect(err).toBeInstanceOf(IncorrectSignature);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);

  it('parseBody: a body or BodyError (400/413/415), for any bytes and content type', () => {
    fc.assert(
      fc.property(jsonish, contentType, (bytes, type) => {
        try {
          parseBody(bytes, type);
        } catch (err) {
          expect(err).toBeInstanceOf(BodyError);
          expect([400, 413, 415]).toContain((err as BodyError).status);
        }
      }),
      params,
    );
    noPollution();
  }, TIMEOUT);
});
