// One delivery from amqplib as enoki's InboundMessage: the properties enoki reads, and an
// ack / nack that is safe on a channel that has gone (the broker has requeued those).

import type { Channel, ConsumeMessage } from 'amqplib';
import type { InboundMessage } from './transport.js';

/** Wrap `msg`, delivered on `channel`; `channelLive` says whether settling it can still reach the broker. */
export function wrapDelivery(channel: Channel, msg: ConsumeMessage, channelLive: () => boolean): InboundMessage {
  let settled = false;
  const live = (): boolean => !settled && channelLive();
  const { properties, fields } = msg;
  return {
    body: msg.content,
    properties: {
      contentType: properties.contentType,
      contentEncoding: properties.contentEncoding,
      correlationId: properties.correlationId,
      replyTo: properties.replyTo,
      deliveryMode: properties.deliveryMode,
      priority: properties.priority,
      messageId: properties.messageId,
      headers: properties.headers,
    },
    exchange: fields.exchange,
    routingKey: fields.routingKey,
    redelivered: fields.redelivered,
    // An ack or nack on a channel that is gone would throw; the broker has already
    // requeued that delivery, so there is nothing left to settle.
    ack: () => {
      if (!live()) return;
      settled = true;
      try {
        channel.ack(msg);
      } catch {
        /* closed under us: requeued by the broker */
      }
    },
    nack: (requeue: boolean) => {
      if (!live()) return;
      settled = true;
      try {
        channel.nack(msg, false, requeue);
      } catch {
        /* closed under us: requeued by the broker */
      }
    },
  };
}
