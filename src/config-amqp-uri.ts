// AMQP_URI, read: one broker URI, or the nodes of one RabbitMQ cluster (a YAML list, or
// one comma-separated string, the form an environment variable can give). Its own file so
// that config-schema.ts keeps to the keys; the types of AMQP_URI_ORDER and QUEUE_TYPE, the
// keys that only mean something with a cluster, are declared here with it.

import { z } from 'zod';

const URI_SCHEMES = new Set(['amqp', 'amqps', 'pyamqp', 'memory']);
const ONE_EXPECTED = 'an amqp://, amqps://, pyamqp:// or memory:// URI';
const LIST_EXPECTED = 'an AMQP URI, or a list of them (a YAML list, or comma-separated)';

// A comma ends a URI only where the next one starts (`,amqp://`): a password may hold a
// literal comma (RFC 3986 allows it unencoded), and it must not split the URI in two.
const URI_SEPARATOR = /\s*,\s*(?=[a-z][a-z0-9+.-]*:\/\/)/i;

/** A comma-separated AMQP_URI (as the environment gives a list) split into its URIs. */
export function splitUriList(value: string): string[] {
  return value.split(URI_SEPARATOR);
}

/** One URI, normalised (pyamqp:// → amqp://), or undefined when it is not a broker URI. */
function brokerUri(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (!scheme || !URI_SCHEMES.has(scheme) || !URL.canParse(value)) return undefined;
  // pyamqp:// is kombu's name for its py-amqp transport; on the wire it is plain AMQP.
  return scheme === 'pyamqp' ? `amqp${value.slice('pyamqp'.length)}` : value;
}

/**
 * AMQP_URI: one URI (a string, as loaded), or a list of the nodes of one RabbitMQ cluster
 * (a YAML list, or a comma-separated string, as the environment variable gives it),
 * loaded as a string[] of two or more. A list of one loads as that string. memory:// is
 * one in-process broker and cannot be part of a list.
 */
export const amqpUri = z.any().transform((value: unknown, ctx): string | string[] => {
  const fail = (expected: string, input: unknown, path: PropertyKey[] = []): never => {
    ctx.addIssue({ code: 'custom', message: expected, input, path });
    return z.NEVER as never;
  };
  const items: unknown[] | undefined = typeof value === 'string' ? splitUriList(value) : Array.isArray(value) ? value : undefined;
  if (items === undefined || items.length === 0) return fail(LIST_EXPECTED, value);
  const uris: string[] = [];
  items.forEach((item, index) => {
    const uri = brokerUri(item);
    if (uri === undefined) fail(ONE_EXPECTED, item, Array.isArray(value) ? [String(index)] : []);
    else uris.push(uri);
  });
  if (uris.length !== items.length) return z.NEVER;
  if (uris.length === 1) return uris[0]!;
  if (uris.some((uri) => uri.startsWith('memory:'))) {
    return fail('a single memory:// URI (memory:// is one in-process broker; a list is for the nodes of a RabbitMQ cluster)', value);
  }
  return uris;
});

/** AMQP_URI_ORDER: the order a connection tries the URIs of an AMQP_URI list in. */
export type AmqpUriOrder = 'ordered' | 'shuffled';

/** QUEUE_TYPE: the RabbitMQ queue type of service queues (rpc-<service>, event handler queues). */
export type QueueType = 'classic' | 'quorum';
