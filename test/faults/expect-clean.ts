import { expect } from 'vitest';
import type { FaultResult } from './harness.js';

/** Every call answered correctly: none errored, none lost, no caller heard twice. */
export function expectEveryCallAnswered(result: FaultResult): void {
  const summary = { sent: result.sent, answered: result.answered, errored: result.errored, lost: result.lost, duplicates: result.duplicates, errors: result.errorsByCode, facts: result.facts };
  expect(result.lost, JSON.stringify(summary)).toBe(0);
  expect(result.duplicates, JSON.stringify(summary)).toBe(0);
  expect(result.errored, JSON.stringify(summary)).toBe(0);
  expect(result.answered, JSON.stringify(summary)).toBe(result.sent);
  expect(result.recoveryMs, JSON.stringify(summary)).not.toBeNull();
}
