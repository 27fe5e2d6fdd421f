// The module graph stays a tree: no import cycle anywhere in src/ or workers/ (type-only and
// dynamic imports included), and the container reaches no entrypoint kind: RPC, HTTP,
// events and timers plug into it through src/entrypoint.ts like a user's own kind does.
// `npm run check:cycles` is the same check from the command line.

import madge from 'madge';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

async function graph(): Promise<Record<string, string[]>> {
  const result = await madge(['src', 'workers'], { baseDir: root, fileExtensions: ['ts'], tsConfig: `${root}tsconfig.json` });
  return result.obj();
}

/** Every module `from` reaches through its imports, itself excluded. */
function reachable(tree: Record<string, string[]>, from: string): Set<string> {
  const seen = new Set<string>();
  const stack = [...(tree[from] ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...(tree[next] ?? []));
  }
  return seen;
}

describe('the import graph', () => {
  it('has no cycle', async () => {
    const result = await madge(['src', 'workers'], { baseDir: root, fileExtensions: ['ts'], tsConfig: `${root}tsconfig.json` });
    expect(Object.keys(result.obj()).length).toBeGreaterThan(40);
    expect(result.circular()).toEqual([]);
  });

  it('leads from the container and the extension host to no entrypoint kind', async () => {
    const tree = await graph();
    expect(tree['src/service-container.ts']).toBeDefined();
    expect([...reachable(tree, 'src/service-container.ts')]).toContain('src/entrypoint.ts');
    // The container, the contract extensions are written against, and the worker path and
    // context every call goes through: none of them reaches RPC, HTTP, events or timers.
    for (const core of ['src/service-container.ts', 'src/extension-host.ts', 'src/entrypoint.ts', 'src/worker-path.ts', 'src/worker-context.ts', 'src/dependency-provider.ts']) {
      expect(tree[core], core).toBeDefined();
      const kinds = [...reachable(tree, core)].filter((file) => /^src\/(rpc|http|events|timer|web)\//.test(file));
      expect({ core, kinds }).toEqual({ core, kinds: [] });
    }
  });
});

describe('the built-in entrypoint kinds', () => {
  // RPC, HTTP, events and timers are made with nothing a user's kind could not use: every
  // name they import from the entrypoint contract and the method marks is exported from 'enoki'.
  it('register through the public entrypoint API only', async () => {
    const enoki = (await import('enoki')) as Record<string, unknown>;
    const index = readFileSync(`${root}src/index.ts`, 'utf8');
    const kinds = ['src/rpc/rpc-decorator.ts', 'src/http/http-decorator.ts', 'src/events/event-handler.ts', 'src/timer/timer.ts'];
    const used = new Map<string, string[]>();
    for (const file of kinds) {
      const source = readFileSync(`${root}${file}`, 'utf8');
      for (const m of source.matchAll(/^import (type )?\{([^}]*)\} from '\.\.\/(entrypoint|decorators)\.js';$/gm)) {
        for (const raw of m[2]!.split(',').map((n) => n.trim()).filter(Boolean)) {
          const name = raw.replace(/^type /, '');
          used.set(`${file}: ${name} (${m[3]})`, [name, m[1] || raw.startsWith('type ') ? 'type' : 'value']);
        }
      }
    }
    expect([...used.keys()].some((k) => k.includes('markEntrypoint') || k.includes('defineEntrypoint'))).toBe(true);
    const notPublic = [...used].filter(([, [name, kind]]) => (kind === 'value' ? !(name in enoki) : !new RegExp(`\\b(type )?${name}\\b`).test(index))).map(([key]) => key);
    expect(notPublic).toEqual([]);
  });
});
