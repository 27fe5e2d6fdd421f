// A service for a bench, run the way users run it: `enoki run` in a child process with a
// config file of the bench's own, started once it logs that it is running, stopped with
// SIGTERM. Shared by bench/inference.ts and bench/inference-offload.ts.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A running `enoki run` child and its temporary config directory. */
export interface BenchService {
  child: ChildProcess;
  dir: string;
}

/**
 * `enoki run --config <settings as JSON, which is YAML> <target...>`, resolved once the service
 * logs that it runs (so `settings.LOGGING.level` must be info or lower). Its warnings and
 * errors after that are echoed to our stderr, prefixed `[service]`.
 */
export async function startEnokiRun(settings: Record<string, unknown>, target: string | string[], env: NodeJS.ProcessEnv = {}): Promise<BenchService> {
  const dir = mkdtempSync(join(tmpdir(), 'enoki-bench-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, JSON.stringify(settings));
  const child = spawn(process.execPath, [join(ROOT, 'bin/enoki.js'), 'run', '--config', config, ...[target].flat()], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stderr! });
    rl.on('line', (line) => {
      lines.push(line);
      if (line.includes('enoki running')) resolve();
      else if (/"level":(4|5|6)0/.test(line)) process.stderr.write(`  [service] ${(JSON.parse(line) as { msg?: string }).msg ?? line}\n`);
    });
    child.once('exit', (code) => reject(new Error(`enoki run exited ${code}:\n${lines.slice(-10).join('\n')}`)));
  });
  return { child, dir };
}

/** SIGTERM, as Ctrl-C would; resolves with the exit code once the child is gone. */
export async function stopEnokiRun({ child, dir }: BenchService): Promise<number> {
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  child.kill('SIGTERM');
  const code = await exited;
  rmSync(dir, { recursive: true, force: true });
  return code;
}
