import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_HOST as A, curl, hostIp, remoteAgents, sh, startAgent, stateListing } from './harness.js';

// Capacity on real hosts, driven from the machine through both agents (token
// over TLS): A is configured for 2 containers and 128M of memory limits, B
// for 3 containers. An install beyond A's capacity is 412 and changes
// nothing; `gear capacity` shows it; a deploy over A and B places on B while
// A is full, and one that does not fit fails before changing anything.
const B = process.env.GEAR_TEST_HOST_B ?? 'gear-b';
const TOKEN = 'capacity-token-0123456789abcdef';
const [ipA, ipB] = [hostIp(A), hostIp(B)];
const agents = remoteAgents([A, B], TOKEN);
const { cli, dir } = agents;
const M = 1024 * 1024;

test.before(async () => {
  await agents.start();
  // The agents' configuration (their environment): A small, B a little larger.
  await startAgent(A, agents.agentArgs, { GEAR_MAX_CONTAINERS: '2', GEAR_MAX_MEMORY: '128M' });
  await startAgent(B, agents.agentArgs, { GEAR_MAX_CONTAINERS: '3' });
});

test.after(async () => {
  await cli(['delete', `${ipA}/cap-1`, `${ipA}/cap-2`, `${ipB}/capw-1`, `${ipB}/capw-2`]);
  await agents.stop();
});

const capacityOf = async (...hosts: string[]) => {
  const r = await cli(['capacity', ...hosts, '--json']);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

test('a host configured for 2 containers refuses the third with 412 and the reason, over the API and the CLI; nothing changes', async () => {
  const r = await cli(['install', 'test/web', `${ipA}/cap-1`, '--memory', '64M']);
  assert.is(r.code, 0, r.stderr);
  assert.is((await cli(['install', 'test/web', `${ipA}/cap-2`])).code, 0);
  const before = await stateListing(A);
  const third = await cli(['install', 'test/web', `${ipA}/cap-3`]);
  assert.is(third.code, 1);
  assert.match(third.stderr, /^gear: [0-9.]+\/cap-3: cannot install cap-3: the host is full: 2 of 2 containers installed \(GEAR_MAX_CONTAINERS\)\n$/);
  // The same through the API: 412 with the reason in the JSON answer.
  const api = await curl(A, ['--cacert', '/root/gear-cert.pem', '-H', `Authorization: Bearer ${TOKEN}`, '-H', 'Content-Type: application/json', '-X', 'PUT', '-d', '{"Image":"test/web"}', `https://${ipA}:43273/container/cap-3`]);
  assert.is(api.status, 412, api.body);
  assert.match(JSON.parse(api.body).Message, /the host is full: 2 of 2 containers installed/);
  // Memory: a re-install counts once, and may not take more than is free (128M - 64M).
  const more = await cli(['install', 'test/web', `${ipA}/cap-2`, '--memory', '96M']);
  assert.is(more.code, 1);
  assert.match(more.stderr, /cannot install cap-2: the host has no memory for it: 96M asked, 64M of 128M free \(GEAR_MAX_MEMORY\)\n$/);
  assert.is(await stateListing(A), before);
  assert.is((await sh(A, 'ls /var/lib/gear/containers')).trim().split('\n').length, 2);
});

test('gear capacity: a table per host, and JSON with installed/limit, memory reserved/limit and the host facts', async () => {
  const table = await cli(['capacity', ipA, ipB]);
  assert.is(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  assert.match(lines[0]!, /^HOST +CONTAINERS +MEMORY RESERVED +FREE +HOST MEMORY +CPUS$/);
  assert.match(table.stdout, new RegExp(`^${ipA.replace(/\./g, '\\.')} +2/2 +64M/128M +0 containers, 64M +[0-9.]+[KMGT] +[0-9]+$`, 'm'));
  assert.match(table.stdout, new RegExp(`^${ipB.replace(/\./g, '\\.')} +0/3 +0/- +3 containers +`, 'm'));
  const json = await capacityOf(ipA);
  const a = json[ipA];
  assert.equal(a.Containers, { Installed: 2, Limit: 2, Free: 0 });
  assert.equal(a.Memory, { Reserved: 64 * M, Limit: 128 * M, Free: 64 * M });
  assert.ok(a.Host.Memory > 0 && a.Host.Cpus > 0);
});

test('deploy across two hosts where one is full places on the other; one that does not fit fails before changing anything', async () => {
  writeFileSync(join(dir, 'capw.json'), JSON.stringify({ Containers: [{ Name: 'capw', Image: 'test/web', Count: 2 }] }));
  const r = await cli(['deploy', 'capw.json', ipA, ipB]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`installed capw-1 on ${ipB}`));
  assert.match(r.stdout, new RegExp(`installed capw-2 on ${ipB}`));
  assert.not.match(r.stdout, new RegExp(`on ${ipA}`));
  assert.equal((await capacityOf(ipB))[ipB].Containers, { Installed: 2, Limit: 3, Free: 1 });
  // Four instances (the resolved file, count raised): B has room for one more, A for none.
  const resolved = /wrote (\S+)/.exec(r.stdout + r.stderr)?.[1];
  assert.ok(resolved, r.stdout);
  const d = JSON.parse(readFileSync(join(dir, resolved), 'utf8'));
  d.Containers[0].Count = 4;
  writeFileSync(join(dir, 'capw4.json'), JSON.stringify(d));
  const beforeA = await stateListing(A);
  const beforeB = await stateListing(B);
  const tooMany = await cli(['deploy', 'capw4.json', ipA, ipB]);
  assert.is(tooMany.code, 1);
  assert.match(tooMany.stderr, /the deployment does not fit: no host has room for capw-4 \(.*the host is full: 2 of 2 containers installed.*the host is full: 3 of 3/);
  assert.is(tooMany.stdout, '');
  assert.is(await stateListing(A), beforeA);
  assert.is(await stateListing(B), beforeB);
});

test.run();
