// @rpc: the RPC entrypoint kind and its decorator. A service's @rpc methods are served by
// one RpcConsumer (rpc-consumer.ts) on the queue 'rpc-<service>'.

import type { MethodDecorator } from '../decorators.js';
import { checkDecoratorOptions } from '../decorator-options.js';
// Only the public entrypoint API (exported from 'enoki'): a user's kind is made the same way.
import { defineEntrypointKind, markEntrypoint } from '../entrypoint.js';
import { EnokiError } from '../errors.js';
import { RpcConsumer } from './rpc-consumer.js';

/** Options of {@link rpc}: `@rpc({ name: 'alias', expected: [InvalidInput] })`. */
export interface RpcOptions {
  /** Wire name, when it should differ from the method name. */
  name?: string;
  /**
   * Errors this method raises on bad input (nameko's `expected_exceptions`): they are
   * logged at warn level without a stack.
   */
  expected?: ReadonlyArray<abstract new (...args: never[]) => Error>;
  /**
   * Arguments masked in every log line enoki writes and in `ctx.redactedArgs` (nameko's
   * `sensitive_arguments`): parameter names or paths into them, e.g.
   * `['password', 'credentials.token', 'cards[].number']`. The method still receives them.
   */
  sensitiveArguments?: readonly string[];
}

/** What an @rpc mark holds: the wire name, when it is not the method's name. */
export interface RpcMark {
  name: string | undefined;
}

/** The RPC entrypoint kind: one consumer answers every @rpc method of the service. */
export const rpcEntrypoint = defineEntrypointKind<RpcMark>({
  name: 'rpc',
  create: (host, marked) => new RpcConsumer(host, marked),
});

/**
 * Marks a method as an RPC entrypoint: `@rpc` or `@rpc({ name: 'alias' })`.
 * It answers `<service>.<name>` on the rpc exchange.
 */
export function rpc(options?: RpcOptions): MethodDecorator;
export function rpc<T extends Function>(value: T, context: ClassMethodDecoratorContext): void;
export function rpc(target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void;
export function rpc(...args: unknown[]): unknown {
  if (args.length <= 1 && (args[0] === undefined || (typeof args[0] === 'object' && args[0] !== null))) {
    checkDecoratorOptions('rpc', args[0], ['name', 'expected', 'sensitiveArguments']);
    const options = (args[0] ?? {}) as RpcOptions;
    if (options.name !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.name)) {
      throw new EnokiError('ENOKI_ERR_DECORATOR_USAGE', ['rpc', options.name, 'an RPC name is letters, digits and _ (no dots)']);
    }
    return markEntrypoint('rpc', rpcEntrypoint, [{ name: options.name }], { expected: options.expected, sensitiveArguments: options.sensitiveArguments });
  }
  // Bare `@rpc`: called as the decorator itself.
  (markEntrypoint('rpc', rpcEntrypoint, [{ name: undefined }]) as (...inner: unknown[]) => void)(...args);
  return undefined;
}
