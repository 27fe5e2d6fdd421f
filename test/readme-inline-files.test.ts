// The README writes out, inline, the helpers its examples need that enoki does not export
// (the DatabasePool dependency, the @pgNotify entrypoint): a reader copies them from there.
// Each such block starts with a `// utils/<file>.ts` line and must be that file of this
// repository exactly, which the tests run (test/guestbook-db, test/user-entrypoint); so the
// copy a reader takes is the code that is tested.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** ```ts blocks whose first line is `// utils/<name>.ts`: [path, the rest of the block]. */
function inlineFiles(markdown: string): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const blocks = markdown.matchAll(/^```ts\n\/\/ (utils\/[\w-]+\.ts)\n([\s\S]*?)^```$/gm);
  for (const [, path, body] of blocks) found.push([path!, body!]);
  return found;
}

describe('helpers written inline in the README', () => {
  const files = inlineFiles(readFileSync(join(ROOT, 'README.md'), 'utf8'));

  it('are DatabasePool and @pgNotify', () => {
    expect(files.map(([path]) => path).sort()).toEqual(['utils/dependencies.ts', 'utils/pg-notify.ts']);
  });

  it.each(files)('%s is the tested file, exactly', (path, body) => {
    expect(body).toBe(readFileSync(join(ROOT, path), 'utf8'));
  });

  it('import only from enoki and third-party packages', () => {
    for (const [path, body] of files) {
      const specifiers = [...body.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      expect(specifiers.filter((s) => s.startsWith('.') || (s.startsWith('enoki/') && !['enoki/testing', 'enoki/fastify', 'enoki/express'].includes(s))), path).toEqual([]);
    }
  });
});
