// enoki's public API. Nothing else under src/ is reachable from outside (package.json
// `exports`); test helpers are in 'enoki/testing'.

export {
  rpc,
  cpuBound,
  http,
  decorate,
  batched,
  type RpcOptions,
  type CpuBoundOptions,
  type HttpOptions,
  type MethodDecorator,
  type DecoratorSpec,
} from './decorators.js';
export { DependencyProvider, dependency, isDependencyProvider, type Injected } from './dependency-provider.js';
export { WorkerContext, type EntrypointKind, type WorkerContextInit } from './worker-context.js';
export { ServiceContainer, type ContainerOptions, type ContainerState, type WorkerOutcome } from './service-container.js';
export type { ServiceClass } from './service-definition.js';
export { ServiceRunner, type RunnerServiceOptions } from './service-runner.js';
export { RpcProxy, type RpcProxyOptions } from './rpc/rpc-proxy.js';
export { ClusterRpcProxy, type ClientOptions, type ClusterClient, type ClusterServices } from './rpc/cluster-rpc-proxy.js';
export type { ServiceProxy, AnyServiceProxy, AnyFunction, RemoteMethod, AsyncReply } from './rpc/service-proxy.js';
export type { CallOptions } from './rpc/reply-listener.js';
export type { ContextData } from './rpc/wire.js';
export {
  loadConfig,
  maskUri,
  showConfig,
  type EnokiConfig,
  type LoadOptions,
  type LoggingConfig,
  type LogLevel,
  type PoolConfig,
  type TlsConfig,
} from './config.js';
export type { ConfigInput } from './config-input.js';
export type { BatchedOptions } from './batching.js';
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
// The HTTP entrypoint kind registers itself with the container when loaded. Loaded here,
// statically, rather than by the container on demand: a dynamic import() inside a copy of
// enoki that a CommonJS loader (tsx in a "type": "commonjs" project) compiled would load
// the ES module copy of the HTTP layer beside it, with its own web server registry.
import './http/http-entrypoint.js';
export { SharedRpcClient, type WebRpcOptions, type RequestWithHeaders } from './web/shared-client.js';
export { nodeHttpRpc, type NodeHttpRpcOptions } from './web/node-http.js';
