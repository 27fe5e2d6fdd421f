// Service2: calls greeting_service through an RpcProxy dependency, as in the seed.

import { rpc, RpcProxy } from 'enoki';
import type { GreetingService } from '../service1/service1.js';
import { LoggingDependency } from '../../utils/dependencies.js';

export class Service2 {
  static name = 'service2';

  log = new LoggingDependency();
  other_rpc = new RpcProxy<GreetingService>('greeting_service');

  @rpc
  async hello_service2(name: string) {
    return this.other_rpc.hello(name);
  }
}
