// Benches run enoki as users get it: the compiled dist/ (tsc), not src/ through tsx, whose
// keepNames wraps every closure made per call (about a third more service CPU).
// tsconfig.build.json has no `paths`, so `enoki` resolves to the package's exports; child
// processes inherit the variable.

import { execFileSync, spawnSync } from 'node:child_process';

/** Unless already re-run: build dist/, run this same script again from it, and exit with its status. */
export function runFromDist(): void {
  if (process.env.TSX_TSCONFIG_PATH !== undefined) return;
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const again = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.build.json' } });
  process.exit(again.status ?? 1);
}
