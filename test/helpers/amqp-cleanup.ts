// Removes what a test file declared on the shared RabbitMQ: service queues are durable and
// never expire (as in nameko), so without this every run would leave its queues behind.
// Reply queues need nothing: they carry x-expires and vanish on their own.

import amqp from 'amqplib';

export async function deleteBrokerObjects(uri: string, queues: readonly string[], exchanges: readonly string[]): Promise<void> {
  const connection = await amqp.connect(uri);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
    await channel.close();
  } finally {
    await connection.close();
  }
}
