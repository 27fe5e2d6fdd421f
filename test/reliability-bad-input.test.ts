// Broken and hostile requests, published raw with amqplib into a real service: each one
// gets nameko's error reply when it has a reply_to, or is rejected without requeue and
// logged once; nothing crashes, nothing loops, nothing pollutes Object.prototype, and the
// service answers a normal call afterwards. Same scenario as the fault report's row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultResult } from './faults/harness.js';
import { badInput, badInputCorpus } from './faults/scenarios.js';
import { createVhost, type TestVhost } from './support/vhost.js';

let vhost: TestVhost;
let result: FaultResult;

beforeAll(async () => {
  vhost = createVhost('bad-input');
  result = await badInput({ vhost });
});

afterAll(() => vhost?.remove());

describe('bad input', () => {
  it('accounts for every message: an error reply, or one logged rejection', () => {
    expect(result.facts.mismatches, String(result.facts.mismatches)).toBe('');
    expect(result.lost).toBe(0);
    expect(result.answered).toBe(result.sent);
    expect(result.sent).toBe(badInputCorpus(4 * 1024 * 1024).length);
  });

  it('answers each message once and logs each rejection once (nothing loops)', () => {
    expect(result.duplicates).toBe(0);
    expect(result.facts.loggedRejections).toBe(result.facts.expectedRejections);
  });

  it('answers a normal call afterwards and leaves its queue empty', () => {
    expect(result.facts.normalCallAfter).toBe(true);
    expect(result.facts.queueReady).toBe(0);
    expect(result.facts.queueUnacked).toBe(0);
  });

  it('refuses a body over MAX_MESSAGE_SIZE before reading it, with a coded error', () => {
    expect(result.facts.tooLargeReply).toMatch(/exceeds the limit of 4194304 bytes \[ENOKI_ERR_BODY_TOO_LARGE\]/);
  });

  it('lets no key pollute Object.prototype', () => {
    expect(result.facts.prototypePolluted).toBe(false);
  });

  it('covers the cases the issue lists', () => {
    const names = badInputCorpus(4 * 1024 * 1024).map((m) => m.name).join('\n');
    for (const needle of ['not JSON', 'args not a list', 'unknown content type', 'missing reply_to', 'missing correlation_id', 'unknown method', 'too many args', '__proto__', 'constructor', 'MAX_MESSAGE_SIZE']) {
      expect(names).toContain(needle);
    }
  });
});
