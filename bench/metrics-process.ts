// A whole service process's CPU per call with metrics off or on: a ServiceRunner without or
// with METRICS_ADDRESS (so prom-client's default metrics, the loop-delay reads, every
// listener are in), 1,000,000 direct calls through its worker path, no broker. Run each
// mode as its own process, alternately:
//
//   for i in 1 2 3; do npx tsx bench/metrics-process.ts off; npx tsx bench/metrics-process.ts on; done

import { loadConfig, rpc, ServiceRunner } from 'enoki';

class BenchService {
  static name = 'bench_service';
  @rpc hello(name: string) {
    // About the garbage of a small RPC call: a parsed request and a reply to encode.
    return JSON.parse(JSON.stringify({ result: `Hello, ${name}!`, pad: 'x'.repeat(200) }));
  }
}

const on = process.argv[2] === 'on';
const runner = new ServiceRunner(
  loadConfig({ AMQP_URI: 'memory://metrics-process', LOGGING: { level: 'warn' }, max_workers: 64, ...(on ? { METRICS_ADDRESS: '127.0.0.1:0' } : {}) }),
);
const container = runner.add(BenchService);
await runner.start();
const method = container.definition.methods.get('hello')!;
async function drive(calls: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < calls) await container.spawnWorker(method, ['bench'], { entrypoint: 'rpc' });
    }),
  );
}
await drive(200_000); // warm-up
const before = process.cpuUsage();
const CALLS = 1_000_000;
await drive(CALLS);
const used = process.cpuUsage(before);
console.log(`metrics ${on ? 'on ' : 'off'}: ${((used.user + used.system) / CALLS).toFixed(3)} µs of CPU per call`);
await runner.stop();
