// Config files for a test file: a temporary directory made before its tests and removed
// after, and `file(text)` to write one config.yaml there.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** Register the directory's hooks; the returned function writes a new file and resolves to its path. */
export function configFiles(prefix: string): (text: string) => Promise<string> {
  let dir = '';
  let seq = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return async (text) => {
    const path = join(dir, `config-${++seq}.yaml`);
    await writeFile(path, text);
    return path;
  };
}
