// The RPC entrypoint: consumes 'rpc-<service>' (bound '<service>.*' on the rpc exchange,
// prefetch = max_workers), runs each request through the container's worker path, replies
// on the exchange with the request's reply_to as routing key, and acknowledges the request
// only after the reply is confirmed by the broker (at-least-once, as nameko).
//
// No message can take the consumer down: bad bodies, unknown methods and wrong arity get
// nameko's error replies; a request with nowhere to reply to is rejected (not requeued,
// so it cannot loop) and logged with the reason.

import { EnokiError, MalformedRequest, MethodNotFound } from '../errors.js';
import type { Entrypoint, ServiceContainer } from '../service-container.js';
import type { MethodDefinition } from '../service-definition.js';
import { bindArguments } from '../signature.js';
import type { InboundMessage, Subscription, Transport } from '../transport/transport.js';
import { contextFromHeaders, decodeRequest, encodeReply, JSON_CONTENT_TYPE, serializeError } from './wire.js';

export class RpcConsumer implements Entrypoint {
  private subscription: Subscription | null = null;
  private transport: Transport | null = null;

  constructor(private readonly container: ServiceContainer) {}

  get queueName(): string {
    return `rpc-${this.container.serviceName}`;
  }

  async start(): Promise<void> {
    const { container } = this;
    this.transport = await container.getTransport();
    this.subscription = await this.transport.consume(
      {
        queue: { name: this.queueName, durable: true, autoDelete: false, exclusive: false },
        exchange: container.config.rpc_exchange,
        bindings: [`${container.serviceName}.*`],
        prefetch: container.config.max_workers,
      },
      (message) => {
        this.handle(message).catch((err) => container.logger.error({ err }, 'unexpected failure handling an RPC request'));
      },
    );
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
    this.subscription = null;
  }

  private async handle(message: InboundMessage): Promise<void> {
    const { container } = this;
    const { replyTo, correlationId } = message.properties;
    const methodName = message.routingKey.slice(container.serviceName.length + 1);
    const log = container.logger;

    if (!replyTo) {
      // nameko crashes its consumer here. A reply cannot be sent, and requeueing would
      // loop forever, so the message is dropped (dead-lettered if the queue has a DLX).
      log.warn({ routingKey: message.routingKey, correlationId }, 'rejected an RPC request without reply_to: nowhere to send a reply');
      message.nack(false);
      return;
    }
    const reply = async (result: unknown, error: Error | undefined): Promise<void> => {
      const body = encodeReply({ result: error ? null : result, error: error ? serializeError(error, container.config.INCLUDE_REMOTE_STACK) : null });
      await this.transport!.publish(container.config.rpc_exchange, replyTo, body, {
        contentType: message.properties.contentType ?? JSON_CONTENT_TYPE,
        contentEncoding: 'utf-8',
        correlationId,
        deliveryMode: 2,
        priority: 0,
      });
      message.ack();
    };
    const rejectCall = async (error: Error): Promise<void> => {
      log.warn({ routingKey: message.routingKey, correlationId, error: `${error.name}: ${error.message}` }, 'RPC request refused');
      try {
        await reply(undefined, error);
      } catch (err) {
        log.error({ err, correlationId }, 'could not publish an error reply; the request stays unacknowledged');
      }
    };

    if (!correlationId) {
      await rejectCall(new MalformedRequest('Message has no correlation_id: the caller could not match a reply to it'));
      return;
    }
    if (message.body.length > container.config.MAX_MESSAGE_SIZE) {
      const tooLarge = new EnokiError('ENOKI_ERR_BODY_TOO_LARGE', [message.body.length, container.config.MAX_MESSAGE_SIZE]);
      await rejectCall(new MalformedRequest(tooLarge.message));
      return;
    }
    let request;
    let method: MethodDefinition | undefined;
    let args: unknown[];
    try {
      request = decodeRequest(message.body, message.properties);
      method = container.definition.rpcMethods.get(methodName);
      if (!method) throw new MethodNotFound(methodName);
      args = bindArguments(method.signature, request.args, request.kwargs);
    } catch (err) {
      await rejectCall(err as Error);
      return;
    }

    const { contextData, callIdStack } = contextFromHeaders(message.properties.headers);
    await container.spawnWorker(method, args, {
      entrypoint: 'rpc',
      contextData,
      parentCallIdStack: callIdStack,
      handleResult: (_ctx, result, error) => reply(result, error),
    });
  }
}
