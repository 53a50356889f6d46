import { Type } from '@sinclair/typebox';
import type { Host } from '../host/context.js';
import { JOURNAL_CURSOR, type JournalEntry } from '../host/journal.js';
import { invalid } from '../model/errors.js';
import { unitNameOf } from '../model/names.js';
import { closed } from '../model/schema.js';
import { requireDefinition } from './common.js';
import { defineStreamingOperation, parseId, queryFlag } from './operation.js';
import { querySchema } from './schemas.js';
import { journalLine } from './text.js';

export interface LogsRequest {
  Id: string;
  lines: number;
  follow: boolean;
  /** Only the entries after this journal cursor (an entry's `cursor`, an event's id): a follow resumed without a gap or a repeat. */
  after?: string;
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
  summary: `A container's journal: the last ${DEFAULT_LOG_LINES.read} lines (lines=N, at most ${MAX_LOG_LINES}), or those after a journal cursor (after=CURSOR); streamed and followed, from the last ${DEFAULT_LOG_LINES.streamed}, with Accept: text/plain;stream=true, or as server-sent events whose ids are the entries' cursors with Accept: text/event-stream`,
  query: Type.Composite([querySchema('lines', 'follow'), Type.Object({ after: Type.Optional(Type.String({ maxLength: 160 })) })], closed),
  mutates: false,
  stream: {
    line: journalLine,
    json: (entries: JournalEntry[]) => ({ Entries: entries }),
    maxItems: MAX_LOG_LINES,
    id: (e: JournalEntry) => e.cursor,
    // Where the answer starts: the cursor asked for, else the journal's end before the reader opens (a stream
    // that shows no entry still hands its reader a point to resume from, before anything it has not seen).
    start: (host: Host, req: LogsRequest) => (req.after !== undefined ? Promise.resolve(req.after) : host.journal.tail()),
  },
  parse(req): LogsRequest {
    const { lines, follow, after } = req.query;
    if (after !== undefined && !JOURNAL_CURSOR.test(after)) throw invalid('after must be a journal cursor (s=…;i=…;b=…;m=…;t=…;x=…), as an entry\'s cursor or an event\'s id gives it');
    if (after !== undefined && lines !== undefined) throw invalid('lines and after do not go together: after gives every entry after the cursor');
    if (lines !== undefined && !/^[0-9]{1,7}$/.test(lines)) throw invalid('lines must be a whole number');
    if (lines !== undefined && Number(lines) > MAX_LOG_LINES) throw invalid(`lines must be at most ${MAX_LOG_LINES}`);
    const streamed = req.stream === true;
    return {
      ...parseId(req),
      lines: lines === undefined ? (streamed ? DEFAULT_LOG_LINES.streamed : DEFAULT_LOG_LINES.read) : Number(lines),
      follow: queryFlag(follow, 'follow') || streamed,
      ...(after !== undefined ? { after } : {}),
    };
  },
  async run(host, req): Promise<AsyncIterable<JournalEntry>> {
    await requireDefinition(host, req.Id);
    return host.journal.entries({ unit: unitNameOf(req.Id), lines: req.lines, follow: req.follow, after: req.after, signal: req.signal });
  },
});
