// What RabbitMQ holds in a test vhost, read with rabbitmqctl (as the nameko captures were
// read with the management API): queues with their flags and depths, bindings, exchanges.

import { execFileSync } from 'node:child_process';

function list<T>(what: string, vhost: string, fields: string[]): T[] {
  const out = execFileSync('rabbitmqctl', [what, '-p', vhost, ...fields, '--formatter', 'json', '--quiet'], { encoding: 'utf8' });
  return JSON.parse(out) as T[];
}

export interface QueueState {
  name: string;
  durable: boolean;
  auto_delete: boolean;
  exclusive: boolean;
  consumers: number;
  messages: number;
  messages_unacknowledged: number;
  /** x-arguments, as rabbitmqctl's JSON lists them ([] for none, as the captures have). */
  arguments: unknown[];
}

export function queues(vhost: string): QueueState[] {
  return list<QueueState>('list_queues', vhost, ['name', 'durable', 'auto_delete', 'exclusive', 'consumers', 'messages', 'messages_unacknowledged', 'arguments']);
}

export interface BindingState {
  source_name: string;
  destination_name: string;
  destination_kind: string;
  routing_key: string;
  arguments: unknown[];
}

/** Bindings, without the default exchange's implicit one per queue. */
export function bindings(vhost: string): BindingState[] {
  return list<BindingState>('list_bindings', vhost, ['source_name', 'destination_name', 'destination_kind', 'routing_key', 'arguments']).filter((b) => b.source_name !== '');
}

export interface ExchangeState {
  name: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  arguments: unknown[];
}

export function exchanges(vhost: string): ExchangeState[] {
  return list<ExchangeState>('list_exchanges', vhost, ['name', 'type', 'durable', 'auto_delete', 'arguments']).filter((e) => e.name !== '' && !e.name.startsWith('amq.'));
}
