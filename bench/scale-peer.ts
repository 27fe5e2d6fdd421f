// One instance of bench/scale.ts's service, as its own process: a ServiceRunner of
// bench/fixtures/scale-service.ts from `enoki` (dist/ when bench/scale.ts runs it), which
// is what `enoki run` does. (`enoki run` itself runs src/ through tsx in this repository,
// since src/ is there, while the service would import dist/: two copies of enoki.)
//
//   tsx bench/scale-peer.ts <amqp uri>
//
// Prints "ready" when consuming; stops gracefully on SIGTERM.

import { loadConfig, ServiceRunner } from 'enoki';
import { ScaleService } from './fixtures/scale-service.js';

const [uri] = process.argv.slice(2) as [string];
const runner = new ServiceRunner(loadConfig({ AMQP_URI: uri, LOGGING: { level: 'warn' } }));
runner.add(ScaleService);
await runner.start();
process.once('SIGTERM', () => {
  void runner.stop().then(() => process.exit(0));
});
console.log('ready');
