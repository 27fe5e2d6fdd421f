// The pool-thread entry when enoki runs from its own TypeScript source (this repository:
// tests, benches, scripts). Installed packages use the compiled workers/pool-thread.js,
// which needs no TypeScript tooling; see src/offload/shared-pool.ts for the choice.
//
// Why tsx is registered here and not with `execArgv: ['--import', 'tsx']`: on Node 20,
// tsx's `--import` entry registers its loader hooks on the main thread only, so a worker
// given that flag still fails on the first `.ts` import (ERR_UNKNOWN_FILE_EXTENSION). Its
// API registers them for the thread that calls it. Threads still inherit the parent's
// execArgv (Node's default: --conditions, --enable-source-maps, ... keep meaning the same).

import { register } from 'tsx/esm/api';
import { register as registerCjs } from 'tsx/cjs/api';

register();
registerCjs();
// The same mark src/typescript-loader.ts sets: the hooks are in place for the user's modules.
globalThis[Symbol.for('enoki.typescript-loader')] = true;

const { runTask } = await import('./offload-worker.ts');

export default runTask;
