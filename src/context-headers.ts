// nameko's call context on the wire: one `nameko.<key>` header per context-data key, and
// `nameko.call_id_stack`, an array of '<service>.<method>.<uuid>' strings, oldest first.
// RPC requests and events carry the same headers (test/fixtures/nameko-wire and
// nameko-events), so both read and write them here.

import { TRACE_CONTEXT_KEYS } from './tracing/otel.js';

export const HEADER_PREFIX = 'nameko';
export const CALL_ID_STACK_KEY = 'call_id_stack';

/**
 * The context data of a call: its `nameko.*` headers without the prefix (`language`,
 * `user_id`, `auth_token`, any custom key). A call passes it on to the calls it makes and
 * the events it dispatches. It travels as AMQP headers, so use plain JSON-able values;
 * null and undefined are not sent.
 */
export type ContextData = Record<string, unknown>;

/** Split 'nameko.*' headers into context data; other headers are not ours and stay out. */
export function contextFromHeaders(headers: Record<string, unknown> | undefined): { contextData: ContextData; callIdStack: string[] } {
  const contextData: ContextData = {};
  let callIdStack: string[] = [];
  if (!headers) return { contextData, callIdStack };
  const prefix = `${HEADER_PREFIX}.`;
  for (const [key, value] of Object.entries(headers)) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (name === '__proto__' || name === 'constructor' || name === 'prototype') continue;
    // `nameko.traceparent`: trace context a Python nameko hop passed on as context data.
    // It is read by tracing (src/tracing/otel.ts) and replaced by a fresh one on the calls
    // this one makes; kept, it would travel on as a stale parent.
    if (TRACE_CONTEXT_KEYS.has(name)) continue;
    if (name === CALL_ID_STACK_KEY) {
      if (Array.isArray(value)) callIdStack = value.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
      continue;
    }
    contextData[name] = Buffer.isBuffer(value) ? value.toString('utf8') : value;
  }
  return { contextData, callIdStack };
}

/** Headers for an outgoing message: every context-data key plus the (capped) call id stack. */
export function headersFromContext(contextData: ContextData, callIdStack: readonly string[]): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(contextData)) {
    if (value === undefined || value === null || key === CALL_ID_STACK_KEY) continue;
    headers[`${HEADER_PREFIX}.${key}`] = value;
  }
  headers[`${HEADER_PREFIX}.${CALL_ID_STACK_KEY}`] = [...callIdStack];
  return headers;
}

/** nameko keeps the newest `parentCallsTracked + 1` entries of the stack. */
export function capCallIdStack(stack: readonly string[], parentCallsTracked: number): string[] {
  const keep = parentCallsTracked + 1;
  return stack.length > keep ? stack.slice(stack.length - keep) : [...stack];
}
