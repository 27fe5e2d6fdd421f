// QUEUE_TYPE for service queues. RabbitMQ's quorum queues are replicated over a cluster's
// nodes and survive the loss of a minority of them, but a quorum queue is always durable
// and can be neither exclusive nor auto-deleted. A queue whose flags say it is meant to
// go away with its consumer (nameko's non-reliable event handlers) therefore stays
// classic: what it holds is lost with its consumer anyway, so replicating it buys nothing.

import type { QueueType } from '../config-amqp-uri.js';
import type { QueueSpec } from './transport.js';

/** Whether a queue with these flags can be a quorum queue. */
export function canBeQuorum(spec: QueueSpec): boolean {
  return spec.durable && !spec.autoDelete && !spec.exclusive;
}

/**
 * `spec` declared as `type`: for 'quorum', with `x-queue-type: quorum` when its flags
 * allow it (see canBeQuorum), else unchanged (classic). 'classic' adds no argument, so
 * the declaration stays byte-for-byte nameko's and an existing queue stays equivalent.
 */
export function withQueueType(spec: QueueSpec, type: QueueType): QueueSpec {
  if (type !== 'quorum' || !canBeQuorum(spec)) return spec;
  return { ...spec, arguments: { ...spec.arguments, 'x-queue-type': 'quorum' } };
}
