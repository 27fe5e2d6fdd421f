// Every shell command in the README is run by this file, or listed below with where else
// it is covered and why: so the README cannot rot. A command added to a ```sh block that
// is neither run nor listed fails the first test.
//
// Reads README.md. Commands run against
// RabbitMQ in a vhost of this file's own (AMQP_URI) and a web port the system picks
// (WEB_SERVER_ADDRESS), so they share nothing with other test files or a developer's
// services.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterRpcProxy, loadConfig } from '../src/index.js';
import { createVhost, type TestVhost } from './support/vhost.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCS = ['README.md'].filter((f) => existsSync(join(ROOT, f)));

interface DocCommand {
  command: string;
  where: string;
}

/**
 * Commands of the ```sh / ```bash / ```shell blocks: continuation lines joined, comments
 * and blank lines dropped, `a && b` taken as two commands (each must be covered).
 */
function shellCommands(markdown: string, file: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = markdown.split('\n');
  let inBlock = false;
  let pending = '';
  let pendingLine = 0;
  lines.forEach((raw, i) => {
    const fence = /^\s*```\s*([\w-]*)/.exec(raw);
    if (fence) {
      inBlock = !inBlock && ['sh', 'bash', 'shell'].includes(fence[1]!);
      pending = '';
      return;
    }
    if (!inBlock) return;
    if (!pending) pendingLine = i + 1;
    const line = stripComment(raw);
    if (line.trimEnd().endsWith('\\')) {
      pending += `${line.trimEnd().slice(0, -1)} `;
      return;
    }
    const full = (pending + line).replace(/\s+/g, ' ').trim();
    pending = '';
    if (!full) return;
    for (const part of full.split(' && ')) out.push({ command: part.trim(), where: `${file}:${pendingLine}` });
  });
  return out;
}

/** Drop a `# comment` that starts outside quotes, after whitespace or at the start. */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      return line.slice(0, i);
    }
  }
  return line;
}

/** Leading `VAR=value` assignments are not part of what the command is. */
function bare(command: string): string {
  return command.replace(/^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+/, '');
}

// --- Covered elsewhere, each with the reason ------------------------------------------

interface Covered {
  match: string | RegExp;
  reason: string;
  /** A file the command runs: it must still exist, or the README points at nothing. */
  file?: (command: string) => string | undefined;
}

const tsxFile = (command: string): string | undefined => /^npx (?:tsx|vitest run) (\S+\.ts)/.exec(command)?.[1];

const COVERED: Covered[] = [
  { match: 'npm test', reason: 'what .ci/run runs on every CI build; this file is part of it, so running it here would recurse' },
  { match: 'npm install', reason: '.ci/run installs from the lockfile (npm ci); not run here: it would rewrite node_modules under the tests running beside it' },
  { match: 'npm ci', reason: 'the first step of .ci/run' },
  { match: 'rabbitmq-server -detached', reason: '.ci/run starts RabbitMQ this way when nothing answers on 5672; every test here needs the broker already up' },
  { match: /^docker run (?:.* )?rabbitmq:[\w.-]+$/, reason: 'not applicable to CI (no docker there): the alternative to rabbitmq-server for people who have docker' },
  { match: /^npm run (?:test:faults|faults)$/, reason: 'npm test runs the fault tests as its last step; they restart the broker, so never beside other tests' },
  {
    match: /^npm run cluster:(?:up|down|(?:stop|start)-node -- [123])$/,
    reason: 'test/faults/cluster-node-loss.test.ts runs scripts/cluster.sh up, status, stop-node 1, start-node 1 and down itself; three extra RabbitMQ nodes never start beside the parallel suite',
  },
  {
    match: /^npx vitest run test\/[\w/.-]+\.test\.ts$/,
    reason: 'one test file of npm test, run there',
    file: tsxFile,
  },
  {
    match: /^npx tsx bench\/heartbeat\.ts(?: .*)?$/,
    reason: 'the seed scenario at full scale (300 s calls, ~20 min) and it rewrites bench/results/; the same scenario at reduced scale is scripts/pitfalls/heartbeat.ts, run by test/pitfalls.test.ts',
    file: tsxFile,
  },
  {
    match: /^(?:npx tsx bench\/[\w-]+\.ts(?: .*)?|npm run bench)$/,
    reason: 'benchmarks take minutes and measure a noisy shared machine: they report numbers, they do not assert; run by hand, results in the README',
    file: tsxFile,
  },
  {
    match: /^npx tsx scripts\/pitfalls\/[\w-]+\.ts$/,
    reason: 'test/pitfalls.test.ts runs every script in scripts/pitfalls/ exactly so, and checks the table each prints',
    file: tsxFile,
  },
  ...[
    /^mkdir hello(?:-js)?$/,
    /^cd hello(?:-js)?$/,
    /^npm init -y$/,
    /^npm pkg set type=module$/,
    /^npm install enoki$/,
    /^npm install -D typescript @types\/node$/,
    /^npx tsc$/,
    /^npx enoki run --config config\.yaml services\/greeter:Greeter$/,
    /^node client\.mjs$/,
  ].map((match) => ({
    match,
    reason: 'a step of "Use enoki in your project": test/package.test.ts runs that section as written, in fresh projects outside this repository with the packed tarball',
    file: () => 'test/package.test.ts',
  })),
  {
    match: /^rabbitmqctl (?:add_vhost \S+|set_permissions -p \S+ \S+ "\.\*" "\.\*" "\.\*")$/,
    reason: 'the two commands test/support/vhost.ts runs for every test file that uses the broker (with guest as the user)',
    file: () => 'test/support/vhost.ts',
  },
  {
    match: /^npx enoki call \S+\.\S+(?: .*)?$/,
    reason: 'needs a service to call: test/cli-call.test.ts runs enoki call against one of its own (arguments, --kwargs, --context, remote errors)',
    file: () => 'test/cli-call.test.ts',
  },
  {
    match: /^npx enoki shell$/,
    reason: 'interactive; test/cli-shell.test.ts runs enoki shell scripted from stdin against a service of its own',
    file: () => 'test/cli-shell.test.ts',
  },
  {
    match: 'npx tsx scripts/train-model.ts',
    reason: 'retrains the model (~40 s of CPU) and rewrites model.json; test/inference-model.test.ts checks the saved model and its accuracy instead',
    file: tsxFile,
  },
];

// --- Run here ---------------------------------------------------------------------------

interface RunSpec {
  match: RegExp;
  timeoutMs: number;
  /** Exit 0 and every pattern in the output (stdout and stderr). */
  expect?: RegExp[];
  /** A service that runs until stopped: wait for it, call it, SIGTERM it, expect exit 0. */
  service?: true;
}

const RUN: RunSpec[] = [
  {
    // The README's first command. With a broker up it must use it, not fall back to memory://.
    match: /^npm start$/,
    timeoutMs: 120_000,
    expect: [/^RabbitMQ answers at /m, /-> "Hello, world!"/, /-> "Hello, nested!"/, /RemoteError Error: boom/, /warehouse\.status\(\).*"reserved":\["teapot"\]/, /enoki run stopped on SIGTERM with exit code 0/],
  },
  { match: /^npx enoki show-config --config config\.yaml$/, timeoutMs: 60_000, expect: [/AMQP_URI/, /rpc_exchange/] },
  // Reads ./config.yaml (the repo's) by default; the test's AMQP_URI variable overrides it, password masked.
  { match: /^npx enoki show-config --format json$/, timeoutMs: 60_000, expect: [/"AMQP_URI": "amqp:\/\/[^"]*:\*\*\*@[^"]*enoki-test-readme-/, /"STARTUP_TIMEOUT": 60/] },
  // The example services of this repository (`services`, `services:Class`), not the
  // "Use enoki in your project" ones (services/greeter, run by test/package.test.ts).
  { match: /^npx enoki run (?:.* )?services(?::\w+)?(?: |$)/, timeoutMs: 90_000, service: true },
  // A pitfall script with arguments (as written, without them, test/pitfalls.test.ts runs it):
  // it prints its table and `OK: ...` last, and exits 1 if enoki's answer did not hold.
  { match: /^npx tsx scripts\/pitfalls\/[\w-]+\.ts .+$/, timeoutMs: 150_000, expect: [/^\| /m, /^OK: /m] },
];

const matches = (m: string | RegExp, command: string): boolean => (typeof m === 'string' ? bare(command) === m : m.test(bare(command)));
const runSpecFor = (command: string): RunSpec | undefined => RUN.find((s) => matches(s.match, command));
const coveredFor = (command: string): Covered | undefined => COVERED.find((c) => matches(c.match, command));

const commands: DocCommand[] = [];
for (const file of DOCS) {
  for (const c of shellCommands(readFileSync(join(ROOT, file), 'utf8'), file)) {
    if (!commands.some((seen) => seen.command === c.command)) commands.push(c);
  }
}

// --- Running -----------------------------------------------------------------------------

let vhost: TestVhost;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  vhost = createVhost('readme');
  // config.yaml reads both (`${AMQP_URI:...}`, `${WEB_SERVER_ADDRESS:...}`); so do the scripts.
  env = { ...process.env, AMQP_URI: vhost.uri, WEB_SERVER_ADDRESS: '127.0.0.1:0', FORCE_COLOR: '0' };
});

afterAll(() => vhost?.remove());

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
});

/** `sh -c command` in its own process group (so a timeout can end everything it started). */
function run(command: string, timeoutMs: number, argv?: string[]): { child: ChildProcess; done: Promise<Ran>; output: () => string } {
  const child = argv
    ? spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('sh', ['-c', command], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => {
    output += `\n[readme-commands: killed after ${timeoutMs} ms]`;
    process.kill(-child.pid!, 'SIGKILL');
  }, timeoutMs);
  const done = new Promise<Ran>((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, output });
    }),
  );
  return { child, done, output: () => output };
}

async function waitForOutput(get: () => string, pattern: RegExp, done: Promise<Ran>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let exited = false;
  void done.then(() => (exited = true));
  while (!pattern.test(get())) {
    if (exited) throw new Error(`exited before printing ${pattern}:\n${get().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${ms} ms:\n${get().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `npx enoki run ...` until it serves, one call to each example service it runs, then
 * SIGTERM, as Ctrl-C would: it must answer, stop gracefully and exit 0.
 *
 * npm exec (npx) neither forwards SIGTERM to its child nor passes on its exit code (it
 * dies of the signal itself), so the service is started as what `npx enoki` resolves to
 * in this package, its own bin (package.json "bin"), with the same arguments.
 */
async function runService(command: string, timeoutMs: number): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  expect(pkg.bin.enoki).toBe('./bin/enoki.js');
  const args = bare(command).replace(/^npx enoki /, '').split(' ');
  const proc = run(command, timeoutMs, [process.execPath, join(ROOT, pkg.bin.enoki), ...args]);
  await waitForOutput(proc.output, /enoki running ([\w, ]+)/, proc.done, timeoutMs / 2);
  const running = /enoki running ([\w, ]+)/.exec(proc.output())![1]!.split(', ');

  const config = loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'warn' } });
  const client = await ClusterRpcProxy.connect(config, { timeoutMs: 20_000 });
  const answered: string[] = [];
  try {
    if (running.includes('greeting_service')) answered.push(String(await client.greeting_service.hello('readme')));
    if (running.includes('service2')) answered.push(String(await client.service2.hello_service2('readme')));
    if (running.includes('inference')) answered.push(String(await client.inference.hello('readme')));
  } finally {
    await client.close();
    process.kill(-proc.child.pid!, 'SIGTERM');
  }
  const { code, signal, output } = await proc.done;
  expect(answered.length, `no example service to call among ${running.join(', ')}`).toBeGreaterThan(0);
  expect(answered.every((a) => a === 'Hello, readme!')).toBe(true);
  expect({ code, signal, tail: code === 0 ? '' : output.slice(-2000) }).toEqual({ code: 0, signal: null, tail: '' });
  expect(output).toMatch(/SIGTERM: stopping/);
}

describe('README commands', () => {
  it(`finds the shell commands of ${DOCS.join(' and ')}`, () => {
    expect(DOCS).toContain('README.md');
    expect(commands.map((c) => c.command)).toContain('npm start');
  });

  it('runs every command here, or lists it as covered elsewhere with the reason', () => {
    const neither = commands.filter((c) => !runSpecFor(c.command) && !coveredFor(c.command)).map((c) => `${c.where}: ${c.command}`);
    expect(neither, 'add each to RUN (with the output to expect) or to COVERED (with the reason) in test/readme-commands.test.ts').toEqual([]);
  });

  it('a command covered elsewhere points at a file that exists', () => {
    const missing = commands
      .filter((c) => !runSpecFor(c.command))
      .map((c) => ({ c, file: coveredFor(c.command)?.file?.(bare(c.command)) }))
      .filter(({ file }) => file !== undefined && !existsSync(join(ROOT, file)))
      .map(({ c, file }) => `${c.where}: ${c.command} (no ${file})`);
    expect(missing).toEqual([]);
  });

  it('the parser reads blocks as a shell would', () => {
    const md = ['```sh', 'npm install && npm start    # two commands', "echo 'a # b' \\", '  --flag  # c', '', '```', '```ts', 'npm nope', '```'].join('\n');
    expect(shellCommands(md, 'x.md').map((c) => c.command)).toEqual(['npm install', 'npm start', "echo 'a # b' --flag"]);
  });

  describe.concurrent('run', () => {
    for (const { command, where } of commands) {
      const spec = runSpecFor(command);
      if (!spec) continue;
      it(`${command}  (${where})`, { timeout: spec.timeoutMs + 15_000 }, async () => {
        if (spec.service) {
          await runService(command, spec.timeoutMs);
          return;
        }
        const { code, signal, output } = await run(command, spec.timeoutMs).done;
        expect({ code, signal, tail: code === 0 ? '' : output.slice(-3000) }).toEqual({ code: 0, signal: null, tail: '' });
        for (const pattern of spec.expect ?? []) expect(output).toMatch(pattern);
      });
    }
  });
});
