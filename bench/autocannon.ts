// autocannon, typed: it ships no types (and @types/autocannon is not installed), so this is
// the part of its API the benches use. Loaded with require: it is a CommonJS package.

import { createRequire } from 'node:module';

export interface LoadResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

export const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  connections: number;
  duration: number;
  pipelining: number;
}) => Promise<LoadResult>;
