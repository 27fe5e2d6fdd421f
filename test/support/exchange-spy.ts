// A spy on an exchange: an exclusive queue bound with '#', so a test sees every request and
// reply exactly as the broker routed them (properties, headers, body bytes). Also hands back
// its connection and channel, which the wire tests use to publish raw messages.

import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';

export interface ExchangeSpy {
  conn: ChannelModel;
  ch: Channel;
  /** Every message routed through the exchange since the spy started, in arrival order. */
  messages: ConsumeMessage[];
}

export async function spyOnExchange(uri: string, exchange = 'nameko-rpc'): Promise<ExchangeSpy> {
  const conn = await amqp.connect(uri, { noDelay: true });
  const ch = await conn.createChannel();
  const messages: ConsumeMessage[] = [];
  await ch.assertQueue('spy', { exclusive: true });
  await ch.bindQueue('spy', exchange, '#');
  await ch.consume('spy', (m) => m && messages.push(m), { noAck: true });
  return { conn, ch, messages };
}
