#!/usr/bin/env bash
# npm run bench: build, boot two test hosts, run the benchmarks, tear them down.
set -uo pipefail
cd "$(dirname "$0")/.."
# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || exit 1
fi
# The pinned Node.js 24 that npm ci installs (see tests/run.sh).
export PATH="$PWD/node_modules/.bin:$PATH"
echo "node $(node --version) ($(command -v node))"
npm run --silent build || exit 1
tests/host/testhost setup >/dev/null || exit 1
# GEAR_BENCH_PREFIX/GEAR_BENCH_INDEX name and place the two hosts (default
# gear-bench, gear-bench-b at 10.250.0.30, .31), so checkouts can bench side
# by side; GEAR_BENCH_FILES picks some of the benchmarks, in this order.
prefix=${GEAR_BENCH_PREFIX:-gear-bench}
first=${GEAR_BENCH_INDEX:-30}
export GEAR_TEST_HOST=$prefix GEAR_TEST_HOST_B=$prefix-b
trap 'for h in "$GEAR_TEST_HOST" "$GEAR_TEST_HOST_B"; do tests/host/testhost down "$h" >/dev/null 2>&1; done' EXIT
tests/host/testhost up "$GEAR_TEST_HOST" "$first" >/dev/null & up_a=$!
tests/host/testhost up "$GEAR_TEST_HOST_B" $((first + 1)) >/dev/null & up_b=$!
wait $up_a && wait $up_b || exit 1
status=0
# containers, agent; links runs over both hosts (the second is idle before);
# spc: the image's size against its base, and the agent's start-to-ready in it.
for bench in ${GEAR_BENCH_FILES:-containers agent links spc}; do
  case $bench in
    spc) bash bench/spc.sh || status=1 ;;
    *) node --import tsx "bench/$bench.ts" || status=1 ;;
  esac
done
exit $status
