// `enoki call` from a terminal against a service on the real broker: JSON-or-string
// arguments, --kwargs, --context, the result on stdout, a remote error as type and
// message with exit code 1.

import { execFile } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from './faults/harness.js';
import { hostCliService } from './support/cli-service-host.js';

const run = promisify(execFile);
const service = hostCliService('cli-call');

type Outcome = { code: number; stdout: string; stderr: string };

function call(...args: string[]): Promise<Outcome> {
  return run(process.execPath, ['bin/enoki.js', 'call', '--broker', service.uri(), ...args], { cwd: ROOT, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: Outcome) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

// Each test starts the CLI (node + tsx) once or more: seconds each on a loaded machine.
describe('enoki call', { timeout: 120_000 }, () => {
  it('prints a string result as it is', async () => {
    expect(await call('cli_service.hello', 'world')).toMatchObject({ code: 0, stdout: 'Hello, world!\n' });
  });

  it('reads each argument as JSON when it parses, else as a string; prints other results as JSON', async () => {
    const { code, stdout } = await call('cli_service.describe', '42', 'plain words', '{"k":[1,true,null]}');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ a: 42, b: 'plain words', c: { k: [1, true, null] }, types: ['number', 'string', 'object'] });
    const quoted = JSON.parse((await call('cli_service.describe', '"42"')).stdout) as { a: unknown };
    expect(quoted.a).toBe('42');
  });

  it('takes negative numbers as values, and -- before arguments that look like options', async () => {
    expect((await call('cli_service.add', '-5', '2')).stdout).toBe('-3\n');
    expect(JSON.parse((await call('cli_service.describe', '--', '--not-an-option')).stdout)).toMatchObject({ a: '--not-an-option' });
  });

  it('passes --kwargs by parameter name and --context as the call context data', async () => {
    const kwargs = JSON.parse((await call('cli_service.describe', '1', '--kwargs', '{"c": "from-kwargs"}')).stdout) as Record<string, unknown>;
    expect(kwargs).toMatchObject({ a: 1, b: 'b-default', c: 'from-kwargs' });
    const context = JSON.parse((await call('cli_service.whoami', '--context', '{"user_id": 7, "language": "en"}')).stdout) as Record<string, unknown>;
    expect(context).toMatchObject({ user_id: 7, language: 'en' });
  });

  it('exits 1 with the remote error type and message', async () => {
    const { code, stdout, stderr } = await call('cli_service.register', 'ada');
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('enoki call: cli_service.register raised NameTaken: ada is taken');
  });

  it('exits 1 naming an unknown service or method, and 2 on a malformed command line', async () => {
    const unknownService = await call('no_such_service.hello', 'x');
    expect(unknownService.code).toBe(1);
    expect(unknownService.stderr).toMatch(/no service is listening for no_such_service.*\[ENOKI_ERR_UNKNOWN_SERVICE\]/);
    const unknownMethod = await call('cli_service.nope');
    expect(unknownMethod.code).toBe(1);
    expect(unknownMethod.stderr).toMatch(/raised MethodNotFound/);
    expect((await call('hello_without_service')).code).toBe(2);
    expect((await call('cli_service.describe', '--kwargs', '[1]')).stderr).toMatch(/--kwargs must be a JSON object/);
  });

  it('refuses --kwargs and --context that would poison prototypes (escaped keys too), with exit code 2', async () => {
    const kwargs = await call('cli_service.describe', '1', '--kwargs', '{"c": {"\\u005f_proto__": {"admin": true}}}');
    expect(kwargs.code).toBe(2);
    expect(kwargs.stderr).toMatch(/--kwargs refused: the key c\.__proto__ is not allowed/);
    const context = await call('cli_service.whoami', '--context', '{"constructor": {"prototype": {"admin": true}}}');
    expect(context.code).toBe(2);
    expect(context.stderr).toMatch(/--context refused: the key constructor\.prototype is not allowed/);
  });
});

describe('enoki call as a health probe', () => {
  it('--timeout bounds the wait for a broker that is down, not only the reply (STARTUP_TIMEOUT 60 notwithstanding)', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const started = Date.now();
    const outcome = await run(process.execPath, ['bin/enoki.js', 'call', 'cli_service.hello', 'probe', '--timeout', '2', '--broker', `amqp://guest:guest@127.0.0.1:${port}/`], {
      cwd: ROOT,
      env: { ...process.env, STARTUP_TIMEOUT: '60', LOGGING_LEVEL: 'error' },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: Outcome) => err,
    );
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/\[ENOKI_ERR_BROKER_REFUSED\]/);
    expect(outcome.stderr).toMatch(/gave up after \d+ attempts? in 2\.\d s/);
    // Node and tsx start-up included; far below the 60 s STARTUP_TIMEOUT would take.
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it('--help prints the usage of enoki call and exits 0', async () => {
    // execFile rejects on a non-zero exit code.
    const { stdout } = await run(process.execPath, ['bin/enoki.js', 'call', '--help'], { cwd: ROOT, timeout: 60_000 });
    expect(stdout).toContain('enoki call <service>.<method> [arg ...] [--kwargs JSON] [--context JSON]');
  });
});

describe('enoki call arguments', () => {
  it('are JSON when they parse, else strings; JSON that would poison prototypes is refused', async () => {
    const { argumentValue } = await import('../src/cli-call.js');
    expect(argumentValue('{"a": [1, 2]}')).toEqual({ a: [1, 2] });
    expect(argumentValue('-3')).toBe(-3);
    expect(argumentValue('hello world')).toBe('hello world');
    expect(() => argumentValue('{"x": {"\\u005f_proto__": {"admin": true}}}')).toThrow(/x\.__proto__ is not allowed/);
  });
});
