// Sensitive arguments (nameko's `sensitive_arguments`): a password passed positionally, as
// a keyword, or nested in an object, through @rpc, @http and an event handler, appears in
// no log line at any level, in a logged worker context, or in what LoggingDependency
// writes; the method itself receives the real values. An unknown decorator option is a
// coded error with a did-you-mean, so a misspelt `sensitiveArguments` cannot be ignored.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClusterRpcProxy,
  cpuBound,
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

const SECRETS = ['hunter2-positional', 'hunter2-keyword', 'tok-nested-secret', '4111-1111-1111-1111', '5500-0000-0000-0004', 'http-body-secret', 'event-card-secret'];
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

const logs = captureLogs('trace');
let runner: ServiceRunner;
const config = loadConfig({ AMQP_URI: 'memory://sensitive', WEB_SERVER_ADDRESS: '127.0.0.1:0', LOGGING: { level: 'trace' } });

beforeAll(async () => {
  runner = new ServiceRunner(config, { logger: logs.logger });
  const container = runner.add(Accounts);
  // Log every call's whole context too, the way a user's own hook would.
  container.onWorkerDone(({ ctx }) => logs.logger.info({ ctx }, 'worker done'));
  await runner.start();
});

afterAll(async () => runner?.stop());

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

  it('no secret appears in any log record, at any level, including logged worker contexts', async () => {
    await eventually(() => logs.records.filter((r) => r.msg === 'worker done').length >= 4, 'four calls done', 5000);
    const text = JSON.stringify(logs.records);
    for (const secret of SECRETS) expect(text, secret).not.toContain(secret);
    expect(text).toContain(REDACTED);
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
    expect(usage(() => rpc({ zzz: 1 } as never))).not.toMatch(/did you mean/);
  });

  it('a malformed sensitive path is refused', () => {
    expect(usage(() => rpc({ sensitiveArguments: ['cards[x].number'] }))).toMatch(/is not a name, name\[\] or name\[n\]/);
    expect(usage(() => rpc({ sensitiveArguments: 'password' as never }))).toMatch(/a list of parameter names or paths/);
  });
});
