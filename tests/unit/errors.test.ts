import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GearError, describeError, hostFault, invalid, statusOfKind } from '../../src/model/errors.js';

/** A system error as Node makes it (fs, net): a message and an errno code. */
const sysError = (code: string, message: string) => Object.assign(new Error(message), { code });

test('host faults: a full, read-only or failing filesystem and exhausted descriptors are named, as a 500 with the system message', () => {
  const full = hostFault(sysError('ENOSPC', 'ENOSPC: no space left on device, write'));
  assert.ok(full instanceof GearError);
  assert.is(statusOfKind[full!.kind], 500);
  assert.is(full!.message, "the host's filesystem is full (ENOSPC: no space left on device, write)");
  assert.match(hostFault(sysError('EROFS', 'EROFS: read-only file system, open'))!.message, /^the host's filesystem is read-only \(EROFS/);
  assert.match(hostFault(sysError('EMFILE', 'EMFILE: too many open files'))!.message, /^too many open files in this process/);
  assert.is(describeError(sysError('EIO', 'EIO: i/o error, read')), "the host's disk reported an I/O error (EIO: i/o error, read)");
});

test('host faults: anything else is left as it is (a bug stays a bug; gear\'s own errors keep their kind)', () => {
  assert.is(hostFault(sysError('ENOENT', 'ENOENT: no such file')), undefined);
  assert.is(hostFault(new TypeError('x is undefined')), undefined);
  assert.is(hostFault('ENOSPC'), undefined);
  assert.is(hostFault(invalid('bad name')), undefined);
  assert.is(describeError(sysError('ENOENT', 'ENOENT: no such file')), 'ENOENT: no such file');
});

test.run();
