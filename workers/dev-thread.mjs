// The file piscina starts in every pool thread. Plain JavaScript because it runs before
// TypeScript can be loaded.
//
// Why tsx is registered here and not with `execArgv: ['--import', 'tsx']`: on Node 20,
// tsx's `--import` entry registers its loader hooks on the main thread only, so a worker
// given that flag still fails on the first `.ts` import (ERR_UNKNOWN_FILE_EXTENSION). Its
// API registers them for the thread that calls it. Threads still inherit the parent's
// execArgv (Node's default: --conditions, --enable-source-maps, ... keep meaning the same).

import { register } from 'tsx/esm/api';

register();

const { runTask } = await import('./offload-worker.ts');

export default runTask;
