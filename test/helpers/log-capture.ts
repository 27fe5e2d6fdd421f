// A pino logger whose records are kept in memory, for tests that assert that something
// was logged (a dropped late reply) rather than only that nothing broke.

import { pino, type Logger } from 'pino';

export interface CapturedLogs {
  logger: Logger;
  records: Array<Record<string, unknown> & { msg?: string; level: number }>;
  has(msg: string): boolean;
}

export function captureLogs(level: pino.LevelWithSilent = 'debug'): CapturedLogs {
  const records: CapturedLogs['records'] = [];
  const logger = pino({ level }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { logger, records, has: (msg) => records.some((r) => r.msg?.includes(msg)) };
}
