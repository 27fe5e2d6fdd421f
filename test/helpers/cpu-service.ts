// A service with a @cpuBound method whose dependency is called from the pool thread, for
// tests of enoki/testing fakes across threads. Pool threads import this module, so it
// must not import vitest.

import { cpuBound, DependencyProvider, dependency, rpc } from '../../src/index.js';

class ScoreStore extends DependencyProvider<{ save(score: number): Promise<string> }> {
  getDependency() {
    return { save: async (score: number) => `saved ${score}` };
  }
}
const Store = dependency(ScoreStore);

export class ScoringService {
  static name = 'scoring';
  store = new Store();

  @rpc
  @cpuBound
  async score(values: number[]) {
    const total = values.reduce((a, b) => a + b, 0);
    return this.store.save(total);
  }
}
