// `npm start` and `npx enoki run` put two processes between a signal and enoki: npm, which
// forwards SIGTERM to its child, and `sh -c`, which is that child and dies of it without
// passing it on (dash does not exec a script's last command). enoki is left orphaned,
// consuming. So when npm launched us, our parent's disappearance is itself the signal to
// stop gracefully. Started any other way (a shell's `&`, nohup, systemd) a new parent is
// normal, and nothing here runs.

/** Whether npm (npm run, npm start, npx, npm exec) started this process: it sets npm_command. */
export function launchedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env['npm_command'] ?? env['npm_lifecycle_event']);
}

/**
 * Call `onGone(pid)` once, when the process that started this one (`pid`) exits. Polls
 * `process.ppid` (a cheap syscall) every `everyMs`; the timer never holds the process up.
 * Returns a function that stops watching.
 */
export function watchLauncher(onGone: (launcherPid: number) => void, everyMs = 500): () => void {
  const launcher = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === launcher) return;
    clearInterval(timer);
    onGone(launcher);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
