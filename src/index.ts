// enoki's public API. Nothing else under src/ is reachable from outside (package.json
// `exports`); test helpers are in 'enoki/testing'.

export { cpuBound, decorate, type CpuBoundOptions, type MethodDecorator, type DecoratorSpec } from './decorators.js';
export { rpc, type RpcOptions } from './rpc/rpc-decorator.js';
// Loads the HTTP entrypoint statically (see http-decorator.ts for why not on demand).
export { http, type HttpOptions } from './http/http-decorator.js';
export {
  MethodEntrypoint,
  defineEntrypoint,
  defineEntrypointKind,
  entrypointDecorator,
  type Entrypoint,
  type EntrypointKindDefinition,
  type MarkedMethod,
  type MethodEntrypointClass,
} from './entrypoint.js';
export type { ExtensionHost, SpawnOptions, ContainerState } from './extension-host.js';
export { eventHandler, type EventHandlerOptions } from './events/event-handler.js';
export { EventDispatcher } from './events/event-dispatcher.js';
export { eventDispatcher, type StandaloneEventDispatcher, type EventDispatcherOptions } from './events/standalone-dispatcher.js';
export type { DispatchFunction } from './events/event-publisher.js';
export type { HandlerType } from './events/event-wire.js';
export { timer, type TimerOptions } from './timer/timer.js';
export type { MethodDefinition, ServiceDefinition } from './service-definition.js';
export { DependencyProvider, dependency, isDependencyProvider, type Injected } from './dependency-provider.js';
export { WorkerContext, type EntrypointKind } from './worker-context.js';
export { ServiceContainer, type ContainerOptions, type WorkerOutcome } from './service-container.js';
export { ServiceRunner } from './service-runner.js';
export { RpcProxy, type RpcProxyOptions } from './rpc/rpc-proxy.js';
export { ClusterRpcProxy, type ClientOptions, type ClusterClient } from './rpc/cluster-rpc-proxy.js';
export type { ServiceProxy, RemoteMethod, AsyncReply } from './rpc/service-proxy.js';
export { loadConfig, maskUri, showConfig, type EnokiConfig } from './config.js';
export type { ConfigInput } from './config-input.js';
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
} from './errors.js';
export { response, json, HttpError, type HttpResponse, type HttpResponseHeaders } from './http/response.js';
export type { HttpRequest, HttpHeaders, HttpQuery } from './http/request.js';
export { webServerAddress, type WebServerAddress } from './http/web-server.js';
export { SharedRpcClient, type WebRpcOptions, type RequestWithHeaders } from './web/shared-client.js';
export { nodeHttpRpc, type NodeHttpRpcOptions } from './web/node-http.js';
