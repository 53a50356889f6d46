import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseLocator } from '../../src/model/address.js';

test('locators: [ctr://][host[:port]/]NAME', () => {
  assert.equal(parseLocator('web-1'), { name: 'web-1' });
  assert.equal(parseLocator('ctr://web-1'), { name: 'web-1' });
  assert.equal(parseLocator('hostA/web-1'), { host: 'hostA', port: undefined, name: 'web-1' });
  assert.equal(parseLocator('10.0.0.2:43273/web-1'), { host: '10.0.0.2', port: 43273, name: 'web-1' });
  assert.equal(parseLocator('[::1]:43273/x'), { host: '[::1]', port: 43273, name: 'x' });
});

test('locators: traversal and junk hosts are refused', () => {
  for (const bad of ['../x', './x', 'a b/x', 'host:99999/x', 'a/../x', '/x', 'host/', '-h/x']) assert.throws(() => parseLocator(bad), /not (a )?valid|empty|out of range/, bad);
});

test.run();
