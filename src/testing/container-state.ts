// The helpers that change what a container is made of must run before it starts: after
// start, providers are set up and the consumer is bound to the method table.

import { EnokiError } from '../errors.js';
import type { ServiceContainer } from '../service-container.js';

export function assertNotStarted(container: ServiceContainer<unknown>, helper: string): void {
  if (container.state === 'created' || container.state === 'stopped') return;
  throw new EnokiError('ENOKI_ERR_CONTAINER_STATE', [container.serviceName, container.state, `${helper} must be called before container.start()`]);
}
