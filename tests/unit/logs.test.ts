import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { logs } from '../../src/operations/logs.js';
import { journalLine } from '../../src/operations/text.js';

const parse = (query: Record<string, string>, stream?: boolean) => logs.parse({ params: { id: 'web-1' }, query, stream });

test('logs: one set of defaults for the agent, the HTTP client and the local CLI (the operation parses them)', () => {
  assert.equal(parse({}), { Id: 'web-1', lines: 100, follow: false }, 'gear logs NAME, GET .../log');
  assert.equal(parse({ follow: '1' }, true), { Id: 'web-1', lines: 10, follow: true }, 'gear logs -f NAME, Accept: text/plain;stream=true');
  assert.equal(parse({}, true), { Id: 'web-1', lines: 10, follow: true }, 'a streamed answer is followed');
  assert.equal(parse({ follow: 'true' }), { Id: 'web-1', lines: 100, follow: true }, 'follow=1 without a stream: from the last 100');
  assert.equal(parse({ lines: '0' }, true), { Id: 'web-1', lines: 0, follow: true });
  assert.equal(parse({ lines: '10000' }), { Id: 'web-1', lines: 10000, follow: false });
});

test('logs: lines is a whole number up to 10000; the container name is checked', () => {
  for (const lines of ['10001', '-1', '1.5', 'abc', '', ' 1', '1e3']) assert.throws(() => parse({ lines }), /lines must be/, lines);
  assert.throws(() => logs.parse({ params: { id: '../x' }, query: {} }), /not valid/);
});

const CURSOR = 's=0123456789abcdef0123456789abcdef;i=1a2;b=fedcba9876543210fedcba9876543210;m=5f3c2;t=60a1b2c3d4e5f;x=9e8d7c6b5a4f3e2d';

test('logs: after=CURSOR resumes after a journal cursor; nothing else passes for one', () => {
  assert.equal(parse({ after: CURSOR }, true), { Id: 'web-1', lines: 10, follow: true, after: CURSOR });
  assert.equal(parse({ after: CURSOR }), { Id: 'web-1', lines: 100, follow: false, after: CURSOR });
  const bad = [
    '',
    'x',
    '--output=cat',
    `--after-cursor=${CURSOR}`,
    `${CURSOR};y=1`,
    `${CURSOR}\n--root=/`,
    `${CURSOR} `,
    CURSOR.toUpperCase(),
    CURSOR.replace('i=1a2', 'i='),
    CURSOR.replace('i=1a2', 'i=1a2g'),
    CURSOR.replace(';b=', ';B='),
    CURSOR.split(';').reverse().join(';'),
    "s=0123456789abcdef0123456789abcdef';rm -rf /'",
  ];
  for (const after of bad) assert.throws(() => parse({ after }, true), /after must be a journal cursor/, JSON.stringify(after));
  assert.throws(() => parse({ after: 'a'.repeat(161) }), /after.*160|must NOT have more than 160/i);
  assert.throws(() => parse({ after: CURSOR, lines: '5' }), /lines and after do not go together/);
});

test('logs: the stream spec renders journal lines and the JSON answer', () => {
  const e = { time: 1_700_000_000_123_456, identifier: 'ctr-web-1', pid: '42', message: 'web: listening on 8080' };
  assert.is(logs.stream.line(e), journalLine(e));
  assert.is(logs.stream.line(e), '2023-11-14T22:13:20Z ctr-web-1[42]: web: listening on 8080\n');
  assert.equal(logs.stream.json([e]), { Entries: [e] });
  assert.is(logs.stream.maxItems, 10000);
  assert.is(logs.stream.id?.({ ...e, cursor: CURSOR }), CURSOR, "an event's id is its entry's cursor");
});

test.run();
