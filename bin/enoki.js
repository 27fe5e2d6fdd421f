#!/usr/bin/env node
// The `enoki` command. It registers tsx first, so services written in TypeScript load
// directly, with no build step, then hands over to src/cli.ts.
import 'tsx';

const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
