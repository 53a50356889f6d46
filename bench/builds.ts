/**
 * Benchmark of source-to-image builds (issue 14) on a real test host: a
 * source tree of 5,000 files (20 MB: 4 KiB each, in 50 directories)
 * built by `gear build` against `docker build` of the same tree with the
 * equivalent Dockerfile (FROM the builder, COPY the tree to /tmp/src, RUN
 * the same assemble script, CMD its run script), each measured in the same
 * run:
 *   cold:        gear build           vs docker build --no-cache
 *   incremental: gear build --incremental after one file changed
 *                vs docker build (its cache) after the same change
 * The builder is tests/integration/jobs.test.ts's (test/web with scripts
 * at /s2i). Medians of BENCH_ROUNDS (3).
 * Usage: GEAR_TEST_HOST=A tsx bench/builds.ts (npm run bench boots it).
 */
import { readFileSync } from 'node:fs';
import { GEAR, REPO, TEST_HOST as A, run, sh } from '../tests/integration/harness.js';
import { ratioLine, timeInHost } from './common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SRC = '/srv/src/bench';

// The builder script of the integration test, so both measure the same thing.
const testFile = readFileSync(`${REPO}/tests/integration/jobs.test.ts`, 'utf8');
const makeBuilder = /const MAKE_BUILDER = String\.raw`([\s\S]*?)`;/.exec(testFile)?.[1];
if (!makeBuilder) throw new Error('no MAKE_BUILDER in tests/integration/jobs.test.ts');

await sh(A, makeBuilder);
await sh(
  A,
  `rm -rf ${SRC} && mkdir -p ${SRC} && cd ${SRC} && for d in $(seq 50); do mkdir d$d; for f in $(seq 100); do head -c 4096 /dev/urandom > d$d/f$f; done; done` +
    ` && printf 'FROM test/builder\\nCOPY . /tmp/src\\nRUN ["/s2i/assemble"]\\nCMD ["/s2i/run"]\\n' > /srv/src/bench.Dockerfile`,
);
console.log(`source: ${(await sh(A, `find ${SRC} -type f | wc -l`)).trim()} files, ${(await sh(A, `du -sm ${SRC} | cut -f1`)).trim()} MB; rounds: ${ROUNDS}`);

const dockerBuild = (extra: string[]) => ['env', 'DOCKER_BUILDKIT=0', 'docker', 'build', '-q', ...extra, '-f', '/srv/src/bench.Dockerfile', '-t', 'bench/docker:1', SRC];
const gearBuild = (extra: string[]) => [GEAR, 'build', ...extra, SRC, 'test/builder', 'bench/gear:1'];
const touch = ['sh', '-c', `date +%s%N > ${SRC}/d1/f1`];

// A first of each, so the incremental rounds have a previous image and a cache.
const first = await run(A, dockerBuild([]));
if (first.code !== 0) throw new Error(`docker build: ${first.stderr}`);
await sh(A, `${GEAR} build ${SRC} test/builder bench/gear:1 >/dev/null`);

const gearCold = await timeInHost(A, gearBuild([]), ROUNDS);
const dockerCold = await timeInHost(A, dockerBuild(['--no-cache']), ROUNDS);

/** Median of rounds of: change one file (untimed), then the build. */
async function afterChange(argv: string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await run(A, touch);
    times.push(await timeInHost(A, argv, 1));
  }
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}
const gearInc = await afterChange(gearBuild(['--incremental']));
const dockerInc = await afterChange(dockerBuild([]));

const width = 44;
ratioLine('gear build, cold', gearCold, 'docker build --no-cache', dockerCold, width);
ratioLine('gear build --incremental, one file changed', gearInc, 'docker build (cache)', dockerInc, width);
await sh(A, `rm -rf ${SRC} /srv/src/bench.Dockerfile; docker rmi -f bench/docker:1 bench/gear:1 >/dev/null 2>&1; docker image prune -f >/dev/null; true`);
