// The bench scripts run each server in a child process of their own (a "role"): on a
// 2-core machine the load generator and the server must not share an event loop. A role
// is this same script forked with `--role <name>`; it reports its port over IPC and stops
// when the parent disconnects.

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';

/** Fork `script` with `--role role` (plus `args`); resolves once the role reports its port. */
export async function startRole(script: string, role: string, args: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(script, ['--role', role, ...args], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
  return { child, port };
}

/** Disconnect a role (its cue to stop) and wait until it has exited. */
export async function stopRole(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.disconnect();
  await exited;
}

/**
 * Pin a process, all its threads, to one CPU, with util-linux `taskset` (best effort:
 * false when there is no taskset or fewer than two CPUs). A load generator and a server
 * that the scheduler moves between cores measure the scheduler as much as the server.
 */
export function pinToCpu(pid: number, cpu: number): boolean {
  // cpus(), not availableParallelism(): the latter shrinks to the mask of a pinned parent.
  if (cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-c', '-p', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
