// The file piscina starts in every pool thread of an installed enoki (compiled to
// dist/workers/pool-thread.js). It loads only what a thread needs to run @cpuBound calls:
// the task protocol, the error classes and the service-class reader; not amqplib or the
// rest of the package. The user's module, imported per service on first use, brings in
// whatever it imports itself. TypeScript tooling is loaded only if that module is `.ts`.

import { runTask } from './offload-worker.js';

export default runTask;
