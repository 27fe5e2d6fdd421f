// The service bench/soak.ts runs with `enoki run`: an echo for the load, and `stats` for the
// process's own figures (memory, event-loop delay since the last sample), read once a second.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { rpc } from 'enoki';

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();

export class SoakService {
  static name = 'soak_service';

  @rpc hello(name: string) {
    return `Hello, ${name}!`;
  }

  @rpc stats() {
    const { rss, heapUsed } = process.memoryUsage();
    const sample = { rss, heapUsed, loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6 };
    loop.reset();
    return sample;
  }
}
