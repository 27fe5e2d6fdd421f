// `enoki shell` scripted from stdin against a service on the real broker: top-level await,
// n.rpc and n.config, lines run in order (each awaited before the next), remote errors
// printed and the exit code 1 when a line threw, and the connection closed on exit (else
// the process would not exit at all: the open socket holds the event loop).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { loadConfig, maskUri } from 'enoki';
import { describe, expect, it } from 'vitest';
import { SHELL_HELPERS, shellNamespace, type ShellSession } from '../src/cli-shell.js';
import { silentLogger } from '../src/logger.js';
import { ROOT } from './faults/harness.js';
import { hostCliService } from './support/cli-service-host.js';

const service = hostCliService('cli-shell');

async function shell(script: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const child = spawn(process.execPath, ['bin/enoki.js', 'shell', '--broker', service.uri()], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  const started = Date.now();
  child.stdin.end(script);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr, ms: Date.now() - started };
}

describe('enoki shell, scripted', () => {
  it('runs each line in order with top-level await, prints results, exits 0 and closes its connection', async () => {
    const script = [
      "const greeting = await n.rpc.cli_service.hello('shell')",
      'greeting.toUpperCase()',
      "const parts = await Promise.all([1, 2, 3].map((i) => n.rpc.cli_service.add(i, 10)))",
      'parts.join(",")',
      'function twice(x) {',
      '  return x * 2',
      '}',
      'twice(parts[2])',
      'n.config.AMQP_URI',
    ].join('\n');
    const { code, stdout, stderr } = await shell(script);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toEqual(['undefined', "'HELLO, SHELL!'", 'undefined', "'11,12,13'", 'undefined', '26', `'${maskUri(service.uri())}'`]);
  });

  it('prints a remote error, goes on with the next line, and exits 1', async () => {
    const { code, stdout } = await shell("await n.rpc.cli_service.register('ada')\n'after the error'\n");
    expect(code).toBe(1);
    expect(stdout).toMatch(/NameTaken/);
    expect(stdout).toMatch(/ada is taken/);
    expect(stdout.trim().split('\n').at(-1)).toBe("'after the error'");
  });

  it('stops reading at .exit', async () => {
    const { code, stdout } = await shell("'before'\n.exit\n'never'\n");
    expect(code).toBe(0);
    expect(stdout).toContain("'before'");
    expect(stdout).not.toContain('never');
  });

  it('never shows the broker password, even asked for the config', async () => {
    const { stdout } = await shell('n.config\nJSON.stringify(n.config)\n');
    expect(stdout).toContain(maskUri(service.uri()));
    expect(stdout).not.toContain(`:${new URL(service.uri()).password}@`);
  });
});

describe('the n of enoki shell', () => {
  it('has rpc, the masked config, dispatch, and a member for each other SHELL_HELPERS entry', async () => {
    const closers: Array<() => unknown> = [];
        const session = {
      client: {} as ShellSession['client'],
      transport: {} as ShellSession['transport'],
      config: loadConfig({ AMQP_URI: 'amqp://u:pw-secret@h:5672/v' }),
      logger: silentLogger(),
      onClose: (close: () => unknown) => void closers.push(close),
    } satisfies ShellSession;
    SHELL_HELPERS.set('probe', (s) => {
      s.onClose(() => undefined);
      return 'probe-value';
    });
    try {
      const n = await shellNamespace(session);
      expect(n['rpc']).toBe(session.client);
      expect((n['config'] as Record<string, unknown>)['AMQP_URI']).toBe('amqp://u:***@h:5672/v');
      expect(typeof n['dispatch']).toBe('function');
      expect(n['probe']).toBe('probe-value');
      // dispatch and probe each registered what to close when the shell exits.
      expect(closers).toHaveLength(2);
    } finally {
      SHELL_HELPERS.delete('probe');
    }
  });

  it('n.dispatch sends an event that a service handles, on the shell connection', async () => {
    const script = [
      "await n.dispatch('cli_source', 'ping', { from: 'shell' })",
      'let seen = []',
      "for (let i = 0; i < 100 && seen.length === 0; i++) { seen = await n.rpc.cli_service.pings(); if (!seen.length) await new Promise((r) => setTimeout(r, 50)) }",
      'JSON.stringify(seen)',
    ].join('\n');
    const { code, stdout, stderr } = await shell(script);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim().split('\n').at(-1)).toBe(`'[{"from":"shell"}]'`);
  });
});

// util-linux `script` gives the shell a pseudo-terminal: the interactive path (prompt,
// colours, history), driven by keystrokes.
const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(hasScript)('enoki shell, on a terminal', () => {
  it('shows the broker (masked) and a prompt, answers with top-level await, keeps history, exits on .exit', async () => {
    const home = mkdtempSync(join(tmpdir(), 'enoki-shell-home-'));
    try {
      const child = spawn('script', ['-qec', `${process.execPath} bin/enoki.js shell --broker ${service.uri()}`, '/dev/null'], {
        cwd: ROOT,
        env: { ...process.env, HOME: home },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = once(child, 'exit');
      const until = async (text: string): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (!out.includes(text)) {
          if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} in:\n${out}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      await until('enoki> ');
      child.stdin.write("await n.rpc.cli_service.hello('tty')\r");
      await until('Hello, tty!');
      child.stdin.write('.exit\r');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      expect(out).toContain(`enoki shell on ${maskUri(service.uri())}`);
      expect(out).not.toContain(`:${new URL(service.uri()).password}@`);
      const history = join(home, '.enoki_shell_history');
      expect(existsSync(history)).toBe(true);
      expect(readFileSync(history, 'utf8')).toContain("await n.rpc.cli_service.hello('tty')");
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
