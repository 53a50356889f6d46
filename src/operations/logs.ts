import type { JournalEntry } from '../host/journal.js';
import { invalid } from '../model/errors.js';
import { unitNameOf } from '../model/names.js';
import { requireDefinition } from './common.js';
import { defineOperation, parseId, queryFlag } from './operation.js';
import { querySchema } from './schemas.js';

export interface LogsRequest {
  Id: string;
  lines?: number;
  follow: boolean;
  signal?: AbortSignal;
}

/** The most journal lines one request may ask for. */
export const MAX_LOG_LINES = 10_000;

/** The container's journal: its output and what systemd says of its unit. */
export const logs = defineOperation({
  name: 'logs',
  method: 'GET',
  path: '/container/:id/log',
  summary: "A container's journal; streamed (and followed) with Accept: text/plain;stream=true",
  query: querySchema('lines', 'follow'),
  mutates: false,
  parse(req): LogsRequest {
    const { lines, follow } = req.query;
    if (lines !== undefined && !/^[0-9]{1,7}$/.test(lines)) throw invalid('lines must be a whole number');
    if (lines !== undefined && Number(lines) > MAX_LOG_LINES) throw invalid(`lines must be at most ${MAX_LOG_LINES}`);
    return { ...parseId(req), lines: lines === undefined ? undefined : Number(lines), follow: queryFlag(follow, 'follow') };
  },
  async run(host, req): Promise<AsyncIterable<JournalEntry>> {
    await requireDefinition(host, req.Id);
    return host.journal.entries({ unit: unitNameOf(req.Id), lines: req.lines, follow: req.follow, signal: req.signal });
  },
});
