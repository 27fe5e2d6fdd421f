#!/usr/bin/env node
// The `enoki` command. Plain JavaScript: it runs before anything is compiled or loaded.
//
// 1. The project's own enoki runs the project's services. A global install, or `npx enoki`
//    resolved elsewhere, hands over to the copy that the services in the working directory
//    import: two copies in one process would not see each other's services (and the second
//    refuses to load, ENOKI_ERR_DUPLICATE_COPY).
// 2. An installed enoki runs its compiled dist/ with plain Node. Only a `.ts` service module
//    makes the CLI load tsx, for the user's code (src/typescript-loader.ts).
// 3. In enoki's own repository (src/ beside this file), it runs the TypeScript source
//    through tsx, so the tests and scripts there need no build step.

import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packageRoot = dirname(dirname(realpathSync(fileURLToPath(import.meta.url))));

/** The bin of the enoki that the working directory's project resolves, when it is another copy. */
function projectBin() {
  if (process.env.ENOKI_BIN_HANDOVER) {
    delete process.env.ENOKI_BIN_HANDOVER; // handed over to us: run, and let our children choose again
    return undefined;
  }
  let root;
  try {
    root = dirname(realpathSync(createRequire(join(process.cwd(), 'package.json')).resolve('enoki/package.json')));
  } catch {
    return undefined; // no enoki in this project: this copy runs it
  }
  if (root === packageRoot) return undefined;
  const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const entry = typeof bin === 'string' ? bin : bin?.enoki;
  return entry ? pathToFileURL(join(root, entry)).href : undefined;
}

async function runThisCopy() {
  const source = join(packageRoot, 'src', 'cli.ts');
  let cli;
  if (existsSync(source)) {
    const [{ register }, { register: registerCjs }] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
    register();
    registerCjs();
    // src/typescript-loader.ts reads this mark: the hooks are in place already.
    globalThis[Symbol.for('enoki.typescript-loader')] = true;
    cli = source;
  } else {
    cli = join(packageRoot, 'dist', 'src', 'cli.js');
    if (!existsSync(cli)) {
      process.stderr.write(`enoki: ${packageRoot} has no dist/: build it with \`npm run build\` (npm install runs it)\n`);
      return 1;
    }
  }
  const { main } = await import(pathToFileURL(cli).href);
  return main(process.argv.slice(2));
}

const handover = projectBin();
if (handover) {
  process.env.ENOKI_BIN_HANDOVER = '1';
  await import(handover);
} else {
  process.exitCode = await runThisCopy();
}
