#!/usr/bin/env bash
# npm run bench: build, boot a test host, run the benchmarks, tear it down.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f node_modules/.package-lock.json ] || npm ci --no-audit --no-fund || exit 1
npm run --silent build || exit 1
tests/host/testhost setup >/dev/null || exit 1
export GEAR_TEST_HOST=gear-bench
trap 'tests/host/testhost down "$GEAR_TEST_HOST" >/dev/null 2>&1' EXIT
tests/host/testhost up "$GEAR_TEST_HOST" 30 >/dev/null || exit 1
node --import tsx bench/containers.ts && 
node --import tsx bench/agent.ts
