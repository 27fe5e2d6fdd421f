// Which mandatory publish a basic.return belongs to. RabbitMQ sends the return of an
// unroutable mandatory message before the confirm of that message, so a publish can tell
// "routed" from "returned" when its confirm arrives, if the return was matched to it first.
//
// A publish with a correlation id (an RPC request) is matched by it. One without (an
// event: nameko's event messages carry no correlation id, and adding one would change the
// wire) is matched by exchange, routing key and body; two identical messages in flight to
// the same place are routed alike, so which of them is marked does not matter.

/** Set when the broker returned the message. */
export interface PendingReturn {
  returned: boolean;
}

interface ByContent {
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: Buffer;
  readonly pending: PendingReturn;
}

/** What amqplib's 'return' event gives, as far as matching needs it. */
export interface ReturnedMessage {
  fields: { exchange: string; routingKey: string };
  properties: { correlationId?: string };
  content: Buffer;
}

export class ReturnTracker {
  private readonly byCorrelationId = new Map<string, PendingReturn>();
  private readonly byContent = new Set<ByContent>();

  /** Watch for the return of one mandatory publish; call `release()` once its confirm has come. */
  track(exchange: string, routingKey: string, body: Buffer, correlationId: string | undefined): { pending: PendingReturn; release(): void } {
    const pending: PendingReturn = { returned: false };
    if (correlationId !== undefined) {
      this.byCorrelationId.set(correlationId, pending);
      return { pending, release: () => this.byCorrelationId.delete(correlationId) };
    }
    const entry: ByContent = { exchange, routingKey, body, pending };
    this.byContent.add(entry);
    return { pending, release: () => this.byContent.delete(entry) };
  }

  /** A basic.return arrived: mark the publish it belongs to. */
  onReturn(message: ReturnedMessage): void {
    const id = message.properties.correlationId;
    if (id !== undefined) {
      const pending = this.byCorrelationId.get(id);
      if (pending) {
        pending.returned = true;
        return;
      }
    }
    for (const entry of this.byContent) {
      if (entry.pending.returned || entry.exchange !== message.fields.exchange || entry.routingKey !== message.fields.routingKey) continue;
      if (!entry.body.equals(message.content)) continue;
      entry.pending.returned = true;
      return;
    }
  }
}
