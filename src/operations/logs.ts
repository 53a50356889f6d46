import type { JournalEntry } from '../host/journal.js';
import { invalid } from '../model/errors.js';
import { unitNameOf } from '../model/names.js';
import { requireDefinition } from './common.js';
import { defineStreamingOperation, parseId, queryFlag } from './operation.js';
import { querySchema } from './schemas.js';
import { journalLine } from './text.js';

export interface LogsRequest {
  Id: string;
  lines: number;
  follow: boolean;
  signal?: AbortSignal;
}

/** The most journal lines one request may ask for. */
export const MAX_LOG_LINES = 10_000;

/**
 * How many lines when none are asked for: the last 100 (the seed's agent
 * answered so), or the last 10 and then new ones when streamed (as
 * `journalctl -f` does). Locally and through an agent alike.
 */
export const DEFAULT_LOG_LINES = { read: 100, streamed: 10 } as const;

/** The container's journal: its output and what systemd says of its unit. */
export const logs = defineStreamingOperation({
  name: 'logs',
  method: 'GET',
  path: '/container/:id/log',
  summary: `A container's journal: the last ${DEFAULT_LOG_LINES.read} lines (lines=N, at most ${MAX_LOG_LINES}); streamed and followed, from the last ${DEFAULT_LOG_LINES.streamed}, with Accept: text/plain;stream=true`,
  query: querySchema('lines', 'follow'),
  mutates: false,
  stream: { line: journalLine, json: (entries: JournalEntry[]) => ({ Entries: entries }), maxItems: MAX_LOG_LINES },
  parse(req): LogsRequest {
    const { lines, follow } = req.query;
    if (lines !== undefined && !/^[0-9]{1,7}$/.test(lines)) throw invalid('lines must be a whole number');
    if (lines !== undefined && Number(lines) > MAX_LOG_LINES) throw invalid(`lines must be at most ${MAX_LOG_LINES}`);
    const streamed = req.stream === true;
    return {
      ...parseId(req),
      lines: lines === undefined ? (streamed ? DEFAULT_LOG_LINES.streamed : DEFAULT_LOG_LINES.read) : Number(lines),
      follow: queryFlag(follow, 'follow') || streamed,
    };
  },
  async run(host, req): Promise<AsyncIterable<JournalEntry>> {
    await requireDefinition(host, req.Id);
    return host.journal.entries({ unit: unitNameOf(req.Id), lines: req.lines, follow: req.follow, signal: req.signal });
  },
});
