// enoki as users get it: `npm pack`, the tarball installed into fresh projects, each set up
// by the README's "Use enoki in your project" steps exactly as written there (its shell
// commands run, its files written), type-checked with the user's strict settings, and a
// service run with `enoki run` that a plain `node` client calls over RabbitMQ:
//
//   TypeScript ESM, TypeScript CommonJS, TypeScript with experimentalDecorators,
//   JavaScript ESM and JavaScript CommonJS (decorate()).
//
// Type checks get generous time: tsc runs twice per check (the project's TypeScript and
// the repository's) and on a loaded 2-core machine one run has taken over a minute.
//
// One install per project, shared by that project's checks. The running part (service and
// client) is repeated on Node 20.19.0 (the oldest package.json `engines` allows), 22 and 24,
// installed from npm's `node` package into node_modules/.cache (once; later runs reuse it).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVhost, type TestVhost } from './support/vhost.js';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECTION = 'Use enoki in your project';
/** What users download, at most (issue 12's budget). */
const PACKED_BUDGET = 400 * 1024;
/** Besides the Node running this test: the oldest `engines` allows (require(esm) unflagged), and the current lines. */
const OTHER_NODES = ['20.19.0', '22', '24'];

// --- The README section, read as blocks ----------------------------------------------------

interface Block {
  lang: string;
  title?: string;
  body: string;
}

/** The fenced blocks of one `## ` section, in order; indented blocks (in list items) are dedented. */
function sectionBlocks(markdown: string, heading: string): Block[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "## ${heading}"`);
  const end = markdown.indexOf('\n## ', start + 4);
  const lines = markdown.slice(start, end < 0 ? undefined : end).split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w+)(?:\s+title="([^"]+)")?\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!.slice(indent));
    blocks.push({ lang: open[2]!, title: open[3], body: `${body.join('\n')}\n` });
  }
  return blocks;
}

/** A shell block's commands, comments dropped. */
function commandsOf(block: Block): string[] {
  return block.body
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line && !line.startsWith('#'));
}

const blocks = sectionBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'), SECTION);
const file = (title: string): string => {
  const found = blocks.find((b) => b.title === title);
  if (!found) throw new Error(`README "${SECTION}" has no block titled ${title}`);
  return found.body;
};
const shellBlocks = blocks.filter((b) => b.lang === 'sh').map(commandsOf);
/** [setup of a TypeScript project, type check + run + call, setup of a JavaScript project, run + call]. */
const [TS_SETUP, TS_RUN, JS_SETUP, JS_RUN] = shellBlocks as [string[], string[], string[], string[]];

// --- Processes -------------------------------------------------------------------------------

let work: string;
let tarball: string;
let vhost: TestVhost;
const children = new Set<ChildProcess>();

/** The environment of every command: the test's vhost, and npm kept quiet and offline-first. */
function env(node?: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AMQP_URI: vhost.uri,
    PATH: node ? `${dirname(node)}:${process.env.PATH}` : process.env.PATH,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    npm_config_prefer_offline: 'true',
    FORCE_COLOR: '0',
  };
}

async function sh(command: string, cwd: string, timeoutMs = 420_000): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync('sh', ['-c', command], { cwd, env: env(), timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 });
    return stdout + stderr;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`\`${command}\` in ${cwd} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Runs a README setup command, with `npm install enoki` installing the packed tarball. */
async function setupCommand(command: string, cwd: string): Promise<void> {
  if (/^mkdir \S+ && cd \S+$/.test(command)) return; // the test made the directory
  await sh(command === 'npm install enoki' ? `npm install ${tarball}` : command, cwd);
}

interface Exited {
  code: number | null;
  output: string;
}

/** `enoki run ...` with the given Node, as `npx enoki run ...` resolves it in that project. */
function startService(
  cwd: string,
  args: string[],
  node = process.execPath,
  bin = join(cwd, 'node_modules/enoki/bin/enoki.js'),
): { child: ChildProcess; output: () => string; exited: Promise<Exited> } {
  const child = spawn(node, [bin, ...args], { cwd, env: env(node), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<Exited>((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, output });
    }),
  );
  return { child, output: () => output, exited };
}

/** Starts the README's `npx enoki run ...`, runs `node <client>` against it, stops it with SIGTERM. */
async function serveAndCall(cwd: string, runCommand: string, clientCommand: string, node = process.execPath, bin?: string): Promise<string> {
  const args = runCommand.replace(/^npx enoki /, '').split(/\s+/);
  const service = startService(cwd, args, node, bin);
  const deadline = Date.now() + 60_000;
  let state: Exited | undefined;
  void service.exited.then((e) => (state = e));
  while (!/enoki running/.test(service.output())) {
    if (state) throw new Error(`enoki run exited (${state.code}) before serving:\n${state.output.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`enoki run did not serve within 60 s:\n${service.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    const [bin, ...rest] = clientCommand.split(/\s+/);
    expect(bin).toBe('node');
    const { stdout } = await execFileAsync(node, rest, { cwd, env: env(node), timeout: 60_000 });
    return stdout;
  } finally {
    service.child.kill('SIGTERM');
    const { code, output } = await service.exited;
    expect({ code, tail: code === 0 ? '' : output.slice(-2000) }).toEqual({ code: 0, tail: '' });
  }
}

function write(dir: string, title: string, body = file(title)): void {
  mkdirSync(dirname(join(dir, title)), { recursive: true });
  writeFileSync(join(dir, title), body);
}

async function newProject(name: string): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  return dir;
}

/** `node_modules/.bin/node` of npm's `node@<major>` package, installed once into the cache. */
async function otherNode(major: string): Promise<string> {
  const prefix = join(ROOT, 'node_modules', '.cache', 'enoki-node', major);
  const bin = join(prefix, 'node_modules', '.bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(prefix, { recursive: true });
    writeFileSync(join(prefix, 'package.json'), '{"private":true}\n');
    await sh(`npm install --no-save node@${major}`, prefix, 300_000);
  }
  return bin;
}

/** Type-checks a project with its own TypeScript (latest, as `npm install -D typescript` gives) and with the repository's (5.9). */
async function typecheck(dir: string, project = 'tsconfig.json'): Promise<void> {
  await sh(`npx tsc -p ${project}`, dir);
  await sh(`node ${join(ROOT, 'node_modules/typescript/bin/tsc')} -p ${project}`, dir);
}

/**
 * A file using every given public module, type-checked with the project's settings, except
 * `"types": []`: enoki's declarations must bring the Node types they use themselves (from
 * their @types/node dependency), not rely on the user's project listing them.
 */
async function typecheckEntries(dir: string, imports: string[]): Promise<void> {
  const lines = imports.map((spec, i) => `import * as m${i} from '${spec}';`);
  write(dir, 'entries/all.ts', `${lines.join('\n')}\nexport const modules = [${imports.map((_, i) => `m${i}`).join(', ')}];\n`);
  write(dir, 'tsconfig.entries.json', JSON.stringify({ extends: './tsconfig.json', compilerOptions: { types: [] }, include: ['entries'] }));
  await typecheck(dir, 'tsconfig.entries.json');
}

/** A class without entrypoints must be refused with the coded error, naming it. */
async function expectNoEntrypointsRefused(dir: string, title: string, source: string): Promise<void> {
  write(dir, title, source);
  const service = startService(dir, ['run', '--config', 'config.yaml', `${title.replace(/\.\w+$/, '')}:Idle`]);
  const { code, output } = await service.exited;
  expect(code).toBe(1);
  expect(output).toMatch(/ENOKI_ERR_NO_ENTRYPOINTS/);
  expect(output).toMatch(/service class Idle .*has no entrypoints.*@rpc/s);
}

const EXPECTED_REPLIES = /Hello, world!\n75025\n/;

// --- The checks ---------------------------------------------------------------------------------

beforeAll(async () => {
  vhost = createVhost('package');
  work = mkdtempSync(join(tmpdir(), 'enoki-package-'));
  const { stdout } = await execFileAsync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, env: env(), maxBuffer: 32 * 1024 * 1024, timeout: 300_000 });
  // npm prints the prepare script's output before the JSON.
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string; size: number; files: Array<{ path: string }> }>;
  tarball = join(work, packed!.filename);
  packedInfo = packed!;
}, 300_000);

let packedInfo: { size: number; files: Array<{ path: string }> };

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  vhost?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it(`is under ${PACKED_BUDGET / 1024} KB and holds only what users need`, () => {
    expect(packedInfo.size).toBeLessThan(PACKED_BUDGET);
    const paths = packedInfo.files.map((f) => f.path);
    expect(paths).toContain('dist/src/index.js');
    expect(paths).toContain('dist/src/index.d.ts');
    expect(paths).toContain('dist/workers/pool-thread.js');
    expect(paths).toContain('bin/enoki.js');
    const stray = paths.filter((p) => !/^(dist\/(src|workers)\/|bin\/|package\.json$|README\.md$|CHANGELOG\.md$|LICENSE$)/.test(p));
    expect(stray).toEqual([]);
    expect(paths.filter((p) => /\.ts$/.test(p) && !p.endsWith('.d.ts'))).toEqual([]);
  });

  it('the README section has the steps this file runs', () => {
    expect(shellBlocks).toHaveLength(4);
    expect(TS_SETUP).toContain('npm install enoki');
    expect(TS_RUN.some((c) => c.startsWith('npx enoki run '))).toBe(true);
    expect(TS_RUN).toContain('node client.mjs');
    expect(JS_SETUP).toEqual(['mkdir hello-js && cd hello-js', 'npm init -y', 'npm install enoki']);
    expect(JS_RUN.some((c) => c.startsWith('npx enoki run '))).toBe(true);
    expect(JS_RUN).toContain('node client.mjs');
  });
});

describe('TypeScript, ESM', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await newProject('ts-esm');
    for (const command of TS_SETUP) await setupCommand(command, dir);
    for (const title of ['tsconfig.json', 'config.yaml', 'services/greeter.ts', 'client.mjs']) write(dir, title);
  }, 300_000);

  it('type-checks with strict and skipLibCheck off, with nodenext and with bundler resolution', async () => {
    const tsconfig = JSON.parse(file('tsconfig.json')) as { compilerOptions: Record<string, unknown> };
    expect(tsconfig.compilerOptions.strict).toBe(true);
    expect(tsconfig.compilerOptions.skipLibCheck).toBeUndefined(); // so false
    for (const command of TS_RUN.filter((c) => c.startsWith('npx tsc'))) await sh(command, dir);
    await typecheck(dir);
    write(dir, 'tsconfig.bundler.json', JSON.stringify({ extends: './tsconfig.json', compilerOptions: { module: 'preserve', moduleResolution: 'bundler' } }));
    await typecheck(dir, 'tsconfig.bundler.json');
  }, 600_000);

  it('serves with enoki run, and a plain node client calls it', async () => {
    const run = TS_RUN.find((c) => c.startsWith('npx enoki run '))!;
    expect(await serveAndCall(dir, run, 'node client.mjs')).toMatch(EXPECTED_REPLIES);
  }, 120_000);

  it('every public module (enoki, enoki/testing, enoki/fastify, enoki/express) type-checks with strict and skipLibCheck off', async () => {
    // fastify and express are optional peers: a project using enoki/fastify or enoki/express has them.
    await sh('npm install fastify express @types/express', dir);
    await typecheckEntries(dir, ['enoki', 'enoki/testing', 'enoki/fastify', 'enoki/express']);
  }, 600_000);

  it('enoki run loads services from .ts, .mts, .cts, .js, .mjs and .cjs files, named with or without the extension, on one copy of enoki', async () => {
    const ts = (name: string, cls: string, cpu = '') =>
      `import { cpuBound, rpc } from 'enoki';\nexport class ${cls} {\n  static name = '${name}';\n  @rpc hello(): string { return '${name}'; }\n${cpu ? '  @rpc @cpuBound square(n: number): number { return n * n; }\n' : ''}}\n`;
    const js = (name: string, cls: string, cpu = '') =>
      `class ${cls} {\n  static name = '${name}';\n  hello() { return '${name}'; }\n${cpu ? '  square(n) { return n * n; }\n' : ''}}\n` +
      `decorate(${cls}, { hello: rpc${cpu ? ', square: [rpc, cpuBound]' : ''} });\n`;
    write(dir, 'kinds/alpha.ts', ts('alpha', 'Alpha'));
    write(dir, 'kinds/bravo.mts', ts('bravo', 'Bravo'));
    write(dir, 'kinds/charlie.cts', ts('charlie', 'Charlie', 'cpu')); // TypeScript compiled to CommonJS: require('enoki')
    write(dir, 'kinds/delta.js', `import { cpuBound, decorate, rpc } from 'enoki';\nexport ${js('delta', 'Delta')}`); // "type": "module"
    write(dir, 'kinds/echo.mjs', `import { cpuBound, decorate, rpc } from 'enoki';\nexport ${js('echo', 'Echo')}`);
    write(dir, 'kinds/foxtrot.cjs', `const { cpuBound, decorate, rpc } = require('enoki');\n${js('foxtrot', 'Foxtrot', 'cpu')}module.exports = { Foxtrot };\n`);
    write(
      dir,
      'kinds-client.mjs',
      `import { ClusterRpcProxy } from 'enoki';\nconst rpc = await ClusterRpcProxy.connect('config.yaml');\n` +
        `for (const s of ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot']) console.log(await rpc[s].hello());\n` +
        `console.log(await rpc.charlie.square(7), await rpc.foxtrot.square(8));\nawait rpc.close();\n`,
    );
    const specs = 'kinds/alpha.ts:Alpha kinds/bravo:Bravo kinds/charlie.cts:Charlie kinds/delta:Delta kinds/echo.mjs:Echo kinds/foxtrot:Foxtrot';
    const out = await serveAndCall(dir, `npx enoki run --config config.yaml ${specs}`, 'node kinds-client.mjs');
    expect(out).toBe('alpha\nbravo\ncharlie\ndelta\necho\nfoxtrot\n49 64\n');
  }, 180_000);

  it('refuses a class without entrypoints with ENOKI_ERR_NO_ENTRYPOINTS', async () => {
    await expectNoEntrypointsRefused(dir, 'services/idle.ts', "export class Idle {\n  static name = 'idle';\n  hello(): string {\n    return 'never served';\n  }\n}\n");
  }, 60_000);

  for (const major of OTHER_NODES) {
    it(`serves and answers on Node ${major}`, async () => {
      const node = await otherNode(major);
      const run = TS_RUN.find((c) => c.startsWith('npx enoki run '))!;
      expect(await serveAndCall(dir, run, 'node client.mjs', node)).toMatch(EXPECTED_REPLIES);
    }, 400_000);
  }
});

describe('TypeScript, CommonJS (and experimentalDecorators)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await newProject('ts-cjs');
    // The README's CommonJS variant: the same steps without `npm pkg set type=module`.
    for (const command of TS_SETUP.filter((c) => c !== 'npm pkg set type=module')) await setupCommand(command, dir);
    for (const title of ['tsconfig.json', 'config.yaml', 'services/greeter.ts', 'client.mjs', 'client.cjs']) write(dir, title);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: string };
    expect(pkg.type ?? 'commonjs').toBe('commonjs');
  }, 300_000);

  it('type-checks (nodenext in a CommonJS package), enoki/testing too', async () => {
    await typecheck(dir);
    await typecheckEntries(dir, ['enoki', 'enoki/testing']);
  }, 600_000);

  it('serves with enoki run; a require() client and an import client both call it', async () => {
    const run = TS_RUN.find((c) => c.startsWith('npx enoki run '))!;
    expect(await serveAndCall(dir, run, 'node client.cjs')).toMatch(/Hello, world!/);
    expect(await serveAndCall(dir, run, 'node client.mjs')).toMatch(EXPECTED_REPLIES);
  }, 120_000);

  it('with experimentalDecorators: true, type-checks and serves the same service', async () => {
    const tsconfig = JSON.parse(file('tsconfig.json')) as { compilerOptions: Record<string, unknown> };
    tsconfig.compilerOptions.experimentalDecorators = true;
    const original = readFileSync(join(dir, 'tsconfig.json'), 'utf8');
    // tsx reads tsconfig.json, so `enoki run` compiles the service with legacy decorators too.
    write(dir, 'tsconfig.json', JSON.stringify(tsconfig, null, 2));
    try {
      await typecheck(dir);
      const run = TS_RUN.find((c) => c.startsWith('npx enoki run '))!;
      expect(await serveAndCall(dir, run, 'node client.mjs')).toMatch(EXPECTED_REPLIES);
    } finally {
      write(dir, 'tsconfig.json', original);
    }
  }, 600_000);

  it('refuses a class without entrypoints with ENOKI_ERR_NO_ENTRYPOINTS', async () => {
    await expectNoEntrypointsRefused(dir, 'services/idle.ts', "export class Idle {\n  static name = 'idle';\n}\n");
  }, 60_000);

  it('a program of its own run with tsx (compiled to CommonJS) serves @http and @cpuBound on one copy of enoki', async () => {
    // tsx compiles this file, and enoki's ESM files it requires, to CommonJS; enoki must
    // not end up loaded twice (an ExpectedError from the service's copy would then not be
    // "expected" to the container's, and the HTTP layer would have its own web server).
    write(
      dir,
      'program.ts',
      `import { ClusterRpcProxy, ExpectedError, ServiceRunner, cpuBound, http, rpc, webServerAddress } from 'enoki';
import { isMainThread } from 'node:worker_threads';

export class Program {
  static name = 'program';
  @http('GET', '/square/:n') page(request: { params: Record<string, string> }) {
    return String(Number(request.params.n) ** 2);
  }
  @rpc @cpuBound square(n: number) { return n * n; }
  @rpc refuse() { throw new ExpectedError('refused'); }
}

if (isMainThread) {
  void (async () => {
    const config = { AMQP_URI: process.env.AMQP_URI, WEB_SERVER_ADDRESS: '127.0.0.1:0' };
    const runner = new ServiceRunner(config);
    runner.add(Program, { module: __filename });
    await runner.start();
    const { port } = webServerAddress(runner.config)!;
    console.log('http', await (await fetch('http://127.0.0.1:' + port + '/square/12')).text());
    const client = await ClusterRpcProxy.connect(config);
    console.log('pool', await client.program.square(9));
    await client.program.refuse().catch((err: { excType?: string }) => console.log('error', err.excType));
    await client.close();
    await runner.stop();
  })();
}
`,
    );
    const out = await sh('npx tsx program.ts', dir, 60_000);
    expect(out).toMatch(/^http 144$/m);
    expect(out).toMatch(/^pool 81$/m);
    expect(out).toMatch(/^error ExpectedError$/m);
    // One copy: the container saw the service's ExpectedError as expected (warn, level 40).
    expect(out).toMatch(/"level":40[^\n]*program\.refuse raised an expected error/);
  }, 120_000);

  for (const major of OTHER_NODES) {
    it(`serves and answers on Node ${major}`, async () => {
      const node = await otherNode(major);
      const run = TS_RUN.find((c) => c.startsWith('npx enoki run '))!;
      expect(await serveAndCall(dir, run, 'node client.cjs', node)).toMatch(/Hello, world!/);
    }, 400_000);
  }
});

describe.each([
  { kind: 'ESM', service: 'services/greeter.mjs', client: 'client.mjs' },
  { kind: 'CommonJS', service: 'services/greeter.cjs', client: 'client.cjs' },
])('JavaScript, $kind, with decorate()', ({ kind, service, client }) => {
  let dir: string;
  beforeAll(async () => {
    dir = await newProject(`js-${kind.toLowerCase()}`);
    for (const command of JS_SETUP) await setupCommand(command, dir);
    for (const title of ['config.yaml', service, client]) write(dir, title);
    // No TypeScript tooling at run time for JavaScript: take tsx away and it must still run.
    rmSync(join(dir, 'node_modules', 'tsx'), { recursive: true, force: true });
  }, 300_000);

  it('serves with enoki run (module named without its extension), and a plain node client calls it', async () => {
    const run = JS_RUN.find((c) => c.startsWith('npx enoki run '))!;
    expect(run).toMatch(/services\/greeter:Greeter$/);
    const out = await serveAndCall(dir, run, `node ${client}`);
    expect(out).toMatch(client.endsWith('.mjs') ? EXPECTED_REPLIES : /Hello, world!/);
  }, 120_000);

  it('a program runs the decorate()d service itself (ServiceRunner), with @cpuBound in the pool', async () => {
    let main: string;
    if (kind === 'ESM') {
      main = 'main.mjs'; // the README's, as written
      write(dir, main);
    } else {
      // A `.js` file is CommonJS in this project: decorate() from .js, loaded by require().
      write(dir, 'services/greeter.js', file('services/greeter.cjs'));
      main = 'main.cjs';
      write(
        dir,
        main,
        `const { ClusterRpcProxy, ServiceRunner, loadConfig } = require('enoki');
const { pathToFileURL } = require('node:url');
const { Greeter } = require('./services/greeter.js');

(async () => {
  const config = loadConfig('config.yaml');
  const runner = new ServiceRunner(config);
  runner.add(Greeter, { module: pathToFileURL(require.resolve('./services/greeter.js')).href });
  await runner.start();
  const rpc = await ClusterRpcProxy.connect(config);
  console.log(await rpc.greeter.fibonacci(20));
  await rpc.close();
  await runner.stop();
})();
`,
      );
    }
    const { stdout } = await execFileAsync(process.execPath, [main], { cwd: dir, env: env(), timeout: 90_000 });
    expect(stdout).toMatch(/^6765$/m);
  }, 120_000);

  it("an enoki bin from elsewhere (a global install) hands over to the project's own copy", async () => {
    // This repository's bin runs its TypeScript source; left to itself it would load a
    // second copy of enoki beside the project's and refuse (ENOKI_ERR_DUPLICATE_COPY).
    const run = JS_RUN.find((c) => c.startsWith('npx enoki run '))!;
    expect(await serveAndCall(dir, run, `node ${client}`, process.execPath, join(ROOT, 'bin/enoki.js'))).toMatch(/Hello, world!/);
  }, 120_000);

  it('refuses a class without entrypoints with ENOKI_ERR_NO_ENTRYPOINTS', async () => {
    const source =
      kind === 'ESM'
        ? "export class Idle {\n  static name = 'idle';\n}\n"
        : "class Idle {\n  static name = 'idle';\n}\nmodule.exports = { Idle };\n";
    await expectNoEntrypointsRefused(dir, service.replace('greeter', 'idle'), source);
  }, 60_000);

  for (const major of OTHER_NODES) {
    it(`serves and answers on Node ${major}`, async () => {
      const node = await otherNode(major);
      const run = JS_RUN.find((c) => c.startsWith('npx enoki run '))!;
      expect(await serveAndCall(dir, run, `node ${client}`, node)).toMatch(/Hello, world!/);
    }, 400_000);
  }
});
