// Sensitive arguments (nameko's `sensitive_arguments`): a password passed positionally, as
// a keyword, or nested in an object, through @rpc, @http and an event handler, appears in
// no log line at any level (trace included), in a logged worker context, in what
// LoggingDependency writes, in the container's error log of a failing call, in a refused
// call's log line, or in a tracing span; the method itself receives the real values. An
// @http request's credential headers are masked the same way. An unknown decorator option
// is a coded error with a did-you-mean, for every decorator and for a user's entrypoint
// kind, so a misspelt `sensitiveArguments` cannot be ignored.

import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batched,
  ClusterRpcProxy,
  cpuBound,
  defineEntrypoint,
  MethodEntrypoint,
  eventDispatcher,
  eventHandler,
  http,
  isEnokiError,
  LoggingDependency,
  loadConfig,
  rpc,
  ServiceRunner,
  timer,
  webServerAddress,
  type HttpRequest,
} from '../src/index.js';
import { parseSensitivePaths, redactArgs, REDACTED } from '../src/redaction.js';
import { captureLogs } from './helpers/log-capture.js';
import { eventually } from './helpers/eventually.js';

const SECRETS = [
  'hunter2-positional',
  'hunter2-keyword',
  'tok-nested-secret',
  '4111-1111-1111-1111',
  '5500-0000-0000-0004',
  'http-body-secret',
  'event-card-secret',
  'http-bearer-secret',
  'http-cookie-secret',
  'vault-pin-secret',
  'vault-token-secret',
  'vault-http-secret',
  'refused-call-secret',
];
const received: unknown[] = [];

class Accounts {
  static name = 'accounts_sensitive';
  log = new LoggingDependency();

  @rpc({ sensitiveArguments: ['password', 'credentials.token', 'cards[].number'] })
  login(user: string, password: string, credentials: { token: string; scope: string } = { token: '', scope: '' }, cards: Array<{ number: string; name: string }> = []) {
    received.push({ user, password, credentials, cards });
    // The call's context, as a provider or a careless method might log it.
    return 'ok';
  }

  @http('POST', '/signup', { sensitiveArguments: ['password'] })
  signup(request: HttpRequest<{ user: string; password: string }>) {
    received.push(request.body);
    return { user: request.body?.user };
  }

  @eventHandler('billing', 'card_added', { sensitiveArguments: ['payload.card.number'] })
  onCard(payload: { user: string; card: { number: string } }) {
    received.push(payload);
  }
}

/** No LoggingDependency here: the container itself logs a failing call's error. */
class Vault {
  static name = 'vault_sensitive';

  @rpc({ sensitiveArguments: ['pin', 'options.token'] })
  unlock(user: string, pin: string, options: { token?: string } = {}) {
    received.push({ user, pin, options });
    throw new Error(`vault locked for ${user}`);
  }

  @http('POST', '/vault', { sensitiveArguments: ['pin'] })
  open(request: HttpRequest<{ pin: string }>) {
    received.push(request.body);
    throw new Error('vault locked');
  }
}

// Tracing on, with the test's own SDK: spans must not carry arguments either.
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

const logs = captureLogs('trace');
let runner: ServiceRunner;
const config = loadConfig({ AMQP_URI: 'memory://sensitive', WEB_SERVER_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'trace' } });

beforeAll(async () => {
  runner = new ServiceRunner(config, { logger: logs.logger });
  const container = runner.add(Accounts);
  runner.add(Vault);
  // Log every call's whole context too, the way a user's own hook would.
  container.onWorkerDone(({ ctx }) => logs.logger.info({ ctx }, 'worker done'));
  await runner.start();
});

afterAll(async () => {
  await runner?.stop();
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

describe('sensitiveArguments', () => {
  it('masks a password passed positionally, by keyword and nested, in every log line; the method gets the real values', async () => {
    await using client = await ClusterRpcProxy.connect(config, { logger: logs.logger });
    await client.accounts_sensitive!.login('ann', 'hunter2-positional', { token: 'tok-nested-secret', scope: 'all' }, [
      { number: '4111-1111-1111-1111', name: 'visa' },
      { number: '5500-0000-0000-0004', name: 'mc' },
    ]);
    await client.accounts_sensitive!.login.call([], { user: 'bob', password: 'hunter2-keyword' });
    expect(received).toContainEqual(expect.objectContaining({ password: 'hunter2-positional', credentials: { token: 'tok-nested-secret', scope: 'all' } }));
    expect(received).toContainEqual(expect.objectContaining({ user: 'bob', password: 'hunter2-keyword' }));
    const starting = logs.records.filter((r) => String(r.msg).includes('accounts_sensitive.login starting'));
    expect(starting).toHaveLength(2);
    expect(starting[0]!.args).toEqual(['ann', REDACTED, { token: REDACTED, scope: 'all' }, [{ number: REDACTED, name: 'visa' }, { number: REDACTED, name: 'mc' }]]);
  });

  it('masks @http body fields and event payload paths the same way', async () => {
    const { port } = webServerAddress(config)!;
    const res = await fetch(`http://127.0.0.1:${port}/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'cy', password: 'http-body-secret' }) });
    expect(res.status).toBe(200);
    const dispatch = await eventDispatcher(config);
    try {
      await dispatch('billing', 'card_added', { user: 'dee', card: { number: 'event-card-secret' } });
    } finally {
      await dispatch.close();
    }
    await eventually(() => received.some((r) => (r as { card?: unknown }).card !== undefined), 'the event to be handled', 5000);
    expect(received).toContainEqual({ user: 'cy', password: 'http-body-secret' });
  });

  it('masks the authorization and cookie headers of an @http request in LoggingDependency\'s line', async () => {
    const { port } = webServerAddress(config)!;
    const res = await fetch(`http://127.0.0.1:${port}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer http-bearer-secret', cookie: 'session=http-cookie-secret' },
      body: JSON.stringify({ user: 'eve', password: 'http-body-secret' }),
    });
    expect(res.status).toBe(200);
    const line = logs.records.filter((r) => String(r.msg).includes('accounts_sensitive.signup starting')).at(-1) as unknown as { args: Array<{ headers: Record<string, unknown>; body: unknown }> };
    expect(line.args[0]!.headers).toMatchObject({ authorization: REDACTED, cookie: REDACTED });
    expect(line.args[0]!.body).toEqual({ user: 'eve', password: REDACTED });
  });

  it('masks them in the container\'s error log of a failing call (RPC and HTTP), which logs the redacted arguments', async () => {
    await using client = await ClusterRpcProxy.connect(config, { logger: logs.logger });
    await expect(client.vault_sensitive!.unlock('fay', 'vault-pin-secret', { token: 'vault-token-secret' })).rejects.toThrow(/vault locked for fay/);
    await expect(client.vault_sensitive!.unlock.call(['gus'], { pin: 'vault-pin-secret' })).rejects.toThrow(/vault locked for gus/);
    const { port } = webServerAddress(config)!;
    const res = await fetch(`http://127.0.0.1:${port}/vault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"pin": "vault-http-secret"}' });
    expect(res.status).toBe(500);
    expect(received).toContainEqual({ user: 'fay', pin: 'vault-pin-secret', options: { token: 'vault-token-secret' } });
    const errors = logs.records.filter((r) => r.level === 50 && String(r.msg).startsWith('vault_sensitive.'));
    expect(errors.map((r) => r.args)).toEqual([
      ['fay', REDACTED, { token: REDACTED }],
      ['gus', REDACTED],
      [expect.objectContaining({ body: { pin: REDACTED } })],
    ]);
  });

  it('a refused call (wrong signature) logs no argument values', async () => {
    await using client = await ClusterRpcProxy.connect(config, { logger: logs.logger });
    await expect(client.accounts_sensitive!.login.call(['hal', 'refused-call-secret', {}, [], 'one too many'], {})).rejects.toThrow(/takes .* positional argument/);
    await expect(client.accounts_sensitive!.login.call(['hal'], { password: 'refused-call-secret', passwd: 'refused-call-secret' })).rejects.toThrow(/unexpected keyword argument 'passwd'/);
  });

  it('no secret appears in any log record, at any level, including logged worker contexts, nor in any tracing span', async () => {
    await eventually(() => logs.records.filter((r) => r.msg === 'worker done').length >= 5, 'five calls done', 5000);
    const text = JSON.stringify(logs.records);
    for (const secret of SECRETS) expect(text, secret).not.toContain(secret);
    expect(text).toContain(REDACTED);
    const spans = exporter.getFinishedSpans();
    expect(spans.length).toBeGreaterThanOrEqual(8);
    const spanText = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, links: s.links })));
    expect(spanText).toContain('vault locked');
    for (const secret of SECRETS) expect(spanText, secret).not.toContain(secret);
  });
});

describe('redactArgs', () => {
  it('copies only along the masked paths and leaves the real arguments untouched', () => {
    const args = [{ user: 'a', cards: [{ number: '1', x: 1 }, { number: '2' }] }, 'pw', { keep: true }];
    const before = JSON.stringify(args);
    const out = redactArgs(args, ['account', 'password', 'other'], parseSensitivePaths('rpc', ['account.cards[].number', 'password', 'missing.path', 'account.cards[5].number']));
    expect(out).toEqual([{ user: 'a', cards: [{ number: REDACTED, x: 1 }, { number: REDACTED }] }, REDACTED, { keep: true }]);
    expect(JSON.stringify(args)).toBe(before);
    expect(out[2]).toBe(args[2]);
    expect(redactArgs(args, ['account'], [])).toBe(args);
  });

  it('takes nameko-style indexes and positions', () => {
    const out = redactArgs([['a', 'b']], ['list'], parseSensitivePaths('rpc', ['list[1]']));
    expect(out).toEqual([['a', REDACTED]]);
    expect(redactArgs([{ t: 's' }], [''], parseSensitivePaths('http', ['0.t']))).toEqual([{ t: REDACTED }]);
  });
});

describe('decorator options', () => {
  const usage = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      expect(isEnokiError(err, 'ENOKI_ERR_DECORATOR_USAGE')).toBe(true);
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('an unknown option is refused at decoration time, with a did-you-mean', () => {
    expect(usage(() => rpc({ sensitiveArgs: ['password'] } as never))).toMatch(/unknown option "sensitiveArgs" \(did you mean sensitiveArguments\?\)/);
    expect(usage(() => http('GET', '/x', { expectd: [] } as never))).toMatch(/did you mean expected\?/);
    expect(usage(() => eventHandler('a', 'b', { handler_type: 'broadcast' } as never))).toMatch(/did you mean handlerType\?/);
    expect(usage(() => cpuBound({ timout: 5 } as never))).toMatch(/did you mean timeout\?/);
    expect(usage(() => timer(5, { eagre: true } as never))).toMatch(/did you mean eager\?/);
    expect(usage(() => batched({ maxBach: 8 } as never))).toMatch(/did you mean maxBatch\?/);
    expect(usage(() => rpc({ zzz: 1 } as never))).not.toMatch(/did you mean/);
  });

  it('a user\'s entrypoint kind: its declared options are checked; without a list, a misspelt sensitiveArguments still is', () => {
    class Every extends MethodEntrypoint<{ ms: number }> {
      start() {}
      stop() {}
    }
    const every = defineEntrypoint('every', Every, (ms: number, options: Record<string, unknown> = {}) => ({ ms, ...options }), ['ms']);
    expect(usage(() => every(5, { sm: 1 }))).toMatch(/@every .*unknown option "sm" \(did you mean ms\?\)/);
    expect(usage(() => every(5, { sensitiveArgs: ['x'] }))).toMatch(/did you mean sensitiveArguments\?/);
    expect(() => every(5, { sensitiveArguments: ['x'] })).not.toThrow();
    const loose = defineEntrypoint('loose', Every, (ms: number, options: Record<string, unknown> = {}) => ({ ms, ...options }));
    expect(usage(() => loose(5, { sensitive_arguments: ['x'] }))).toMatch(/did you mean sensitiveArguments\?/);
    expect(() => loose(5, { anything: 1 })).not.toThrow();
  });

  it('a malformed sensitive path is refused', () => {
    expect(usage(() => rpc({ sensitiveArguments: ['cards[x].number'] }))).toMatch(/is not a name, name\[\] or name\[n\]/);
    expect(usage(() => rpc({ sensitiveArguments: 'password' as never }))).toMatch(/a list of parameter names or paths/);
  });
});
