// The span of a @cpuBound call's time in a pool thread: `<service>.<method> thread`, kind
// INTERNAL, a child of the call's span. The thread needs no SDK: it reports, as plain
// numbers, when it started and finished the method (epoch milliseconds), and the main
// thread makes the span with those times. The dependency calls the method makes from the
// thread arrive on the call's own port (src/offload/dependency-bridge.ts), which the main
// thread serves inside this span's context: a nested RPC call or event dispatch is its child.

import { context, SpanKind, trace, type Context, type Span } from '@opentelemetry/api';
import { recordError } from './call-span.js';
import { tracer } from './otel.js';

export class ThreadSpan {
  private readonly span: Span;
  /** The context dependency calls from the thread run in. */
  readonly context: Context;

  /** `where` is `<service>.<method>`; `startedAt` the thread's own clock, epoch ms. */
  constructor(where: string, parent: Context, startedAt: number | undefined, threadId: number) {
    this.span = tracer().startSpan(`${where} thread`, { kind: SpanKind.INTERNAL, startTime: startedAt, attributes: { 'thread.id': threadId } }, parent);
    this.context = trace.setSpan(parent, this.span);
  }

  /** Run `deliver` (a dependency request from the thread) inside this span. */
  readonly around = (deliver: () => void): void => {
    context.with(this.context, deliver);
  };

  /** End at `endedAt` (the thread's clock, when it reported one), failed with `error` if given. */
  end(error: unknown, endedAt?: number): void {
    if (error !== undefined) recordError(this.span, error);
    this.span.end(endedAt);
  }
}
