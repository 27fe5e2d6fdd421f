// enoki's public API. Nothing else under src/ is reachable from outside (package.json
// `exports`); test helpers are in 'enoki/testing'.
//
// enoki's types use Node's (servers, sockets, worker threads): the reference below is kept in
// the emitted .d.ts, so a user's project has them even with `"types": []`, from the
// @types/node that enoki depends on.
/// <reference types="node" preserve="true" />

export { batched, cpuBound, decorate, type CpuBoundOptions, type MethodDecorator, type DecoratorSpec } from './decorators.js';
export { rpc, type RpcOptions } from './rpc/rpc-decorator.js';
// Loads the HTTP entrypoint statically (see http-decorator.ts for why not on demand).
export { http, type HttpOptions } from './http/http-decorator.js';
export {
  MethodEntrypoint,
  defineEntrypoint,
  defineEntrypointKind,
  entrypointDecorator,
  markEntrypoint,
  type CommonEntrypointOptions,
  type Entrypoint,
  type EntrypointKindDefinition,
  type MarkedMethod,
  type MethodEntrypointClass,
} from './entrypoint.js';
export type { ExtensionHost, SpawnOptions } from './extension-host.js';
// The broker connection an entrypoint gets from its container (ExtensionHost.getTransport).
export type {
  Transport,
  TransportEvent,
  ConsumeSpec,
  QueueSpec,
  InboundMessage,
  MessageProperties,
  PublishOptions,
  Subscription,
} from './transport/transport.js';
export { eventHandler, type EventHandlerOptions } from './events/event-handler.js';
export { EventDispatcher } from './events/event-dispatcher.js';
export { eventDispatcher, type StandaloneEventDispatcher, type EventDispatcherOptions } from './events/standalone-dispatcher.js';
export type { DispatchFunction } from './events/event-publisher.js';
export type { HandlerType } from './events/event-wire.js';
export { timer, type TimerOptions } from './timer/timer.js';
export { DependencyProvider, dependency, isDependencyProvider, type Injected } from './dependency-provider.js';
export { WorkerContext, type EntrypointKind, type WorkerContextInit } from './worker-context.js';
export { ServiceContainer, type ContainerOptions, type ContainerState, type WorkerOutcome } from './service-container.js';
export type { ServiceClass, MethodDefinition, ServiceDefinition } from './service-definition.js';
export type { EntrypointMark, MethodMarks } from './decorators.js';
export type { Signature, ParamInfo } from './signature.js';
export { ServiceRunner, type MetricsServerAddress, type RunnerServiceOptions } from './service-runner.js';
export { RpcProxy, type RpcProxyOptions } from './rpc/rpc-proxy.js';
export { ClusterRpcProxy, type ClientOptions, type ClusterClient, type ClusterServices } from './rpc/cluster-rpc-proxy.js';
export type { ServiceProxy, AnyServiceProxy, AnyFunction, RemoteMethod, AsyncReply } from './rpc/service-proxy.js';
export type { CallOptions } from './rpc/reply-listener.js';
export type { ContextData } from './context-headers.js';
export {
  loadConfig,
  maskUri,
  showConfig,
  type EnokiConfig,
  type LoadOptions,
  type ShowFormat,
  type LoggingConfig,
  type LogLevel,
  type PoolConfig,
  type TlsConfig,
  type AmqpUriOrder,
  type QueueType,
} from './config.js';
export type { ConfigInput } from './config-input.js';
export type { HttpLimitsConfig, DeliveryMode } from './config-schema.js';
export type { SerializerName } from './serializer.js';
export type { RpcPublishOptions } from './rpc/publish-settings.js';
export type { BatchedOptions } from './batching.js';
export { REDACTED, type SensitivePath, type Segment } from './redaction.js';
export { createLogger, type Logger } from './logger.js';
export { LoggingDependency, LoggingProvider } from './logging-dependency.js';
export { yieldEvery, yieldingEach } from './yield.js';
export {
  EnokiError,
  ExpectedError,
  RemoteError,
  MethodNotFound,
  IncorrectSignature,
  MalformedRequest,
  UnknownService,
  RpcTimeout,
  ERROR_CATALOGUE,
  isEnokiError,
  type ErrorCode,
  type EnokiErrorOptions,
} from './errors.js';
export { response, json, HttpError, type HttpResponse, type HttpResponseHeaders } from './http/response.js';
export type { HttpRequest, HttpHeaders, HttpQuery } from './http/request.js';
export { webServerAddress, type WebServerAddress } from './http/web-server.js';
export { SharedRpcClient, type WebRpcOptions, type RequestWithHeaders } from './web/shared-client.js';
export { nodeHttpRpc, type NodeHttpRpcOptions } from './web/node-http.js';
