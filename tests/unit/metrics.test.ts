import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Counter, Gauge, Histogram, exposition } from '../../src/model/metrics.js';
import { parseExposition, valueOf } from '../fixtures/exposition.js';

test('the renderer: HELP, TYPE, escaped label values, cumulative buckets with +Inf = count; the strict reader takes it back', () => {
  const c = new Counter('x_total', 'a counter\nwith a \\ in its help', ['name']);
  c.inc({ name: 'a"b\\c\nd' });
  c.inc({ name: 'a"b\\c\nd' }, 2);
  const g = new Gauge('y', 'a gauge');
  g.set({}, 1.5);
  const h = new Histogram('z_seconds', 'a histogram', ['op'], [0.1, 1]);
  h.observe({ op: 'a' }, 0.05);
  h.observe({ op: 'a' }, 0.5);
  h.observe({ op: 'a' }, 5);
  const text = exposition([c, g, h]);
  assert.is(
    text,
    [
      '# HELP x_total a counter\\nwith a \\\\ in its help',
      '# TYPE x_total counter',
      'x_total{name="a\\"b\\\\c\\nd"} 3',
      '# HELP y a gauge',
      '# TYPE y gauge',
      'y 1.5',
      '# HELP z_seconds a histogram',
      '# TYPE z_seconds histogram',
      'z_seconds_bucket{op="a",le="0.1"} 1',
      'z_seconds_bucket{op="a",le="1"} 2',
      'z_seconds_bucket{op="a",le="+Inf"} 3',
      'z_seconds_sum{op="a"} 5.55',
      'z_seconds_count{op="a"} 3',
      '',
    ].join('\n'),
  );
  const parsed = parseExposition(text);
  assert.is(valueOf(parsed, 'x_total', { name: 'a"b\\c\nd' }), 3);
  assert.is(parsed.get('x_total')!.help, 'a counter\nwith a \\ in its help');
  assert.is(valueOf(parsed, 'z_seconds_count', { op: 'a' }), 3);
  assert.throws(() => c.inc({}, -1), /only goes up/);
  assert.throws(() => new Gauge('bad-name', 'x'), /bad metric name/);
  assert.throws(() => new Histogram('h', 'x', ['le'], [1]), /bad label name/);
});

const HEAD = '# TYPE h histogram\n';
const bad: [string, string][] = [
  ['no newline at the end', 'a 1'],
  ['a blank line', 'a 1\n\nb 2\n'],
  ['a bad metric name', '1a 1\n'],
  ['a bad label name', 'a{1x="v"} 1\n'],
  ['an unquoted label value', 'a{x=v} 1\n'],
  ['a bad escape', 'a{x="\\t"} 1\n'],
  ['an unterminated label value', 'a{x="v} 1\n'],
  ['a missing comma', 'a{x="v" y="w"} 1\n'],
  ['a bad value', 'a 1,5\n'],
  ['two spaces', 'a  1\n'],
  ['a bad type', '# TYPE a meter\na 1\n'],
  ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
  ['TYPE twice', '# TYPE a gauge\n# TYPE a gauge\na 1\n'],
  ['HELP twice', '# HELP a x\n# HELP a y\na 1\n'],
  ['samples apart', '# TYPE a gauge\na{x="1"} 1\nb 1\na{x="2"} 1\n'],
  ['a series twice', 'a{x="1"} 1\na{x="1"} 2\n'],
  ['a negative counter', '# TYPE a counter\na -1\n'],
  ['buckets not cumulative', `${HEAD}h_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n`],
  ['+Inf not the count', `${HEAD}h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n`],
  ['no +Inf bucket', `${HEAD}h_bucket{le="1"} 1\nh_sum 1\nh_count 1\n`],
  ['le not increasing', `${HEAD}h_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n`],
  ['no _sum', `${HEAD}h_bucket{le="+Inf"} 1\nh_count 1\n`],
  ['a bucket without le', `${HEAD}h_bucket 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n`],
];

test('the strict reader refuses what the format forbids (so the integration test can fail)', () => {
  for (const [what, text] of bad) assert.throws(() => parseExposition(text), undefined, what);
  assert.ok(parseExposition('# a comment\n# HELP a x\n# TYPE a gauge\na{x="1"} +Inf\na{x="2"} NaN 1700000000000\n').get('a'));
});

test.run();
