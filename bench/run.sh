#!/usr/bin/env bash
# npm run bench: build, boot two test hosts, run the benchmarks, tear them down.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f node_modules/.package-lock.json ] || npm ci --no-audit --no-fund || exit 1
npm run --silent build || exit 1
tests/host/testhost setup >/dev/null || exit 1
export GEAR_TEST_HOST=gear-bench GEAR_TEST_HOST_B=gear-bench-b
trap 'for h in "$GEAR_TEST_HOST" "$GEAR_TEST_HOST_B"; do tests/host/testhost down "$h" >/dev/null 2>&1; done' EXIT
tests/host/testhost up "$GEAR_TEST_HOST" 30 >/dev/null & up_a=$!
tests/host/testhost up "$GEAR_TEST_HOST_B" 31 >/dev/null & up_b=$!
wait $up_a && wait $up_b || exit 1
status=0
node --import tsx bench/containers.ts || status=1
node --import tsx bench/agent.ts || status=1
# Links and deploys over two hosts (the second host is idle during the first benchmark).
node --import tsx bench/links.ts || status=1
# The SPC image: its size against its base, and the agent's start-to-ready in it.
bash bench/spc.sh || status=1
exit $status
