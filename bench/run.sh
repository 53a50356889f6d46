#!/usr/bin/env bash
# npm run bench: build, boot two test hosts, run the benchmarks, tear them down.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/one-run.sh
claim_checkout bench/run.sh || exit 1
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
benches=${GEAR_BENCH_FILES:-containers agent links redeploy wake update spc images builds console}
export GEAR_TEST_HOST=$prefix GEAR_TEST_HOST_B=$prefix-b
# images fans out to four receivers: three more hosts (-c, -d, -e at
# INDEX+2..INDEX+4), booted for that benchmark only (idle hosts would
# weigh on the others' timings) and taken down after it.
export GEAR_TEST_HOST_C=$prefix-c GEAR_TEST_HOST_D=$prefix-d GEAR_TEST_HOST_E=$prefix-e
hosts=("$GEAR_TEST_HOST" "$GEAR_TEST_HOST_B")
extra=("$GEAR_TEST_HOST_C" "$GEAR_TEST_HOST_D" "$GEAR_TEST_HOST_E")
trap 'for h in "${hosts[@]}" "${extra[@]}"; do tests/host/testhost down "$h" >/dev/null 2>&1; done; release_checkout' EXIT
# boot FIRST_INDEX NAME...: the hosts at consecutive indexes, in parallel.
boot() {
  local at=$1 pids=() p; shift
  for h in "$@"; do
    tests/host/testhost up "$h" "$at" >/dev/null & pids+=($!)
    at=$((at + 1))
  done
  for p in "${pids[@]}"; do wait "$p" || return 1; done
}
boot "$first" "${hosts[@]}" || exit 1
status=0
# containers, agent; links runs over both hosts (the second is idle before);
# redeploy: a deploy again of 20 instances with one changed against all changed;
# wake: a socket-activated container woken from idle against a running one;
# update: requests failed and time of gear update behind a link with two
# targets (drained) against one target (the plain update);
# spc: the image's size against its base, and the agent's start-to-ready in it;
# images: transfers between the hosts' agents against docker save | docker
# load and docker pull from a registry, and a fan-out to four hosts;
# builds: gear build (cold, incremental) against docker build of the same tree.
# console: the web console's first render of 200 containers in Chromium against
# gear list-units, and the bytes of its page.
for bench in $benches; do
  case $bench in
    spc) bash bench/spc.sh || status=1 ;;
    images)
      if boot $((first + 2)) "${extra[@]}"; then
        node --import tsx bench/images.ts || status=1
      else
        status=1
      fi
      for h in "${extra[@]}"; do tests/host/testhost down "$h" >/dev/null 2>&1; done ;;
    *) node --import tsx "bench/$bench.ts" || status=1 ;;
  esac
done
exit $status
