// SIGTERM to whatever launched enoki stops the service gracefully: `npm start` and `npx
// enoki run` put npm and a `sh -c` between the signal and enoki, and the shell dies of the
// signal without passing it on. The call in flight is answered, the service stops, and no
// orphan is left consuming. A project in a temporary directory has enoki installed as a
// link to this repository, as `npm install` of a local path would leave it.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterRpcProxy, loadConfig } from 'enoki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, waitUntil } from './faults/harness.js';
import { createVhost, type TestVhost } from './support/vhost.js';

let vhost: TestVhost;
let project: string;
const FIXTURE = join(ROOT, 'test/faults/fixtures/fault-service.ts');

beforeAll(() => {
  vhost = createVhost('signals');
  project = mkdtempSync(join(tmpdir(), 'enoki-signals-'));
  mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(ROOT, join(project, 'node_modules', 'enoki'));
  symlinkSync(join(ROOT, 'bin', 'enoki.js'), join(project, 'node_modules', '.bin', 'enoki'));
  const run = `enoki run ${FIXTURE}:FaultService`;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'signals-app', private: true, scripts: { start: run, 'start:exec': `exec ${run}` } }));
});

afterAll(() => {
  vhost?.remove();
  rmSync(project, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Launch `command` in the project; resolves once enoki serves, with enoki's own pid (from its log). */
async function launch(command: string, args: string[]): Promise<{ launcher: ChildProcess; exited: Promise<[number | null, string | null]>; enokiPid: number; output: () => string }> {
  const launcher = spawn(command, args, {
    cwd: project,
    env: {
      ...process.env,
      AMQP_URI: vhost.uri,
      LOGGING_LEVEL: 'info',
      // The fixture imports 'enoki', which resolves to src/ through the repo's tsconfig paths.
      TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(launcher, 'exit') as Promise<[number | null, string | null]>;
  let text = '';
  launcher.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  launcher.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  await waitUntil('enoki to serve', () => text.includes('enoki running'), 60_000).catch((err: Error) => {
    launcher.kill('SIGKILL');
    throw new Error(`${err.message}; output:\n${text}`);
  });
  const running = text.split('\n').find((line) => line.includes('enoki running'))!;
  const enokiPid = (JSON.parse(running) as { pid: number }).pid;
  return { launcher, exited, enokiPid, output: () => text };
}

describe.each([
  ['npm start', 'npm', ['start']],
  ['npm run start:exec (exec in the script)', 'npm', ['run', 'start:exec']],
  ['npx enoki run', 'npx', ['enoki', 'run', `${FIXTURE}:FaultService`]],
])('SIGTERM to %s', (_label, command, args) => {
  it('answers the call in flight, stops the service and leaves no process behind', async () => {
    const { launcher, exited, enokiPid, output } = await launch(command, args);
    const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }), { timeoutMs: 30_000 });
    try {
      expect(enokiPid).not.toBe(launcher.pid);
      const inFlight = client.fault_service.echo(1, 1_500);
      await new Promise((resolve) => setTimeout(resolve, 300));
      launcher.kill('SIGTERM');
      await expect(inFlight).resolves.toMatchObject({ i: 1, pid: enokiPid });
      await waitUntil('enoki to exit', () => !alive(enokiPid), 20_000);
      await exited;
      expect(output()).toMatch(/service fault_service stopped/);
      expect(output()).not.toMatch(/killing; unanswered requests/);
    } finally {
      await client.close();
      if (alive(enokiPid)) process.kill(enokiPid, 'SIGKILL');
      if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
    }
  }, 90_000);
});

// A container runtime signals the main process of the container, PID 1 of its own PID
// namespace, and when PID 1 exits the kernel kills everything else in it. `unshare --pid
// --fork` makes exactly that namespace (root only; skipped elsewhere).
const canUnshare = (() => {
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The pid, seen from here, of the PID 1 that `unshare --fork` (pid `unsharePid`) started. */
function namespaceInit(unsharePid: number): number {
  return Number(execFileSync('ps', ['-o', 'pid=', '--ppid', String(unsharePid)], { encoding: 'utf8' }).trim().split('\n')[0]);
}

describe.skipIf(!canUnshare).each([
  ['CMD ["node_modules/.bin/enoki", "run", ...] (the bin as PID 1)', ['node_modules/.bin/enoki', 'run', `${FIXTURE}:FaultService`]],
  ['CMD ["npm", "run", "start:exec"] (exec in the script)', ['npm', 'run', 'start:exec']],
])('SIGTERM to a container whose CMD is %s', (_label, cmd) => {
  it('answers the call in flight and the container exits 0 after the service stopped', async () => {
    const { launcher, exited, output } = await launch('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', ...cmd]);
    const client = await ClusterRpcProxy.connect(loadConfig({ AMQP_URI: vhost.uri, LOGGING: { level: 'silent' } }), { timeoutMs: 30_000 });
    try {
      const init = namespaceInit(launcher.pid!);
      const inFlight = client.fault_service.echo(2, 1_500);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // What `docker stop` does: SIGTERM to the container's PID 1.
      process.kill(init, 'SIGTERM');
      await expect(inFlight).resolves.toMatchObject({ i: 2 });
      const [code] = await exited;
      expect(code).toBe(0);
      expect(output()).toMatch(/SIGTERM: stopping/);
      expect(output()).toMatch(/service fault_service stopped/);
    } finally {
      await client.close();
      if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
    }
  }, 90_000);
});
