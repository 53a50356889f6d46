#!/usr/bin/env bash
# bench/spc.sh — the SPC image (issue 4): its size against the node base it is
# built on, and the agent's start-to-ready time in the container against the
# same agent run straight on the host.
#
#   bench/spc.sh                 boots test host spc-bench (10.250.0.41), downs it after
#   GEAR_TEST_HOST=NAME bench/spc.sh   uses a host that is up (left up)
#   BENCH_ROUNDS=N               start-to-ready rounds (default 7; medians reported)
#
# Sizes: uncompressed is Docker's image size; compressed is
# `docker save IMAGE | gzip | wc -c` (what a registry push roughly moves).
# Ready: from `systemctl start` of the unit until the API answers on its unix
# socket (GET /health), and until `gear list-units` answers through the host
# command. Baseline: `gear daemon` from the checkout, as a transient unit.
# The test host cannot start --privileged containers; as in the SPC test,
# tests/images/privileged-shim.sh stands in for docker there (see it).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
TH=tests/host/testhost
ROUNDS=${BENCH_ROUNDS:-7}
HOST=${GEAR_TEST_HOST:-}
if [[ -z $HOST ]]; then
  HOST=spc-bench
  trap '$TH down "$HOST" >/dev/null 2>&1 || true' EXIT
  $TH up "$HOST" 41 >/dev/null
fi
in_host() { $TH exec "$HOST" -- "$@"; }

echo "building the image in $HOST (tests/images/build-spc.sh)" >&2
tests/images/build-spc.sh "$HOST" >/dev/null

# --- sizes ---------------------------------------------------------------
size() { in_host docker image inspect -f '{{.Size}}' "$1"; }
gz() { in_host sh -c "docker save $1 | gzip | wc -c"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
declare -A U C
for img in gear node:24-bookworm-slim debian:bookworm-slim; do
  U[$img]=$(size "$img")
  C[$img]=$(gz "$img")
done
echo
echo "image size              uncompressed        gzip'ed (docker save | gzip)"
for img in gear node:24-bookworm-slim debian:bookworm-slim; do
  printf '%-22s  %-9s %-8s  %-9s %s\n' "$img" "$(mb "${U[$img]}")" "$(ratio "${U[$img]}" "${U[node:24-bookworm-slim]}")" \
    "$(mb "${C[$img]}")" "$(ratio "${C[$img]}" "${C[node:24-bookworm-slim]}")"
done
echo "(ratios against node:24-bookworm-slim; gear adds $(mb $((U[gear] - U[debian:bookworm-slim]))) to debian:bookworm-slim)"

# --- start-to-ready --------------------------------------------------------
# One round, timed inside the host: start UNIT (a command), then poll every
# 10 ms until the socket answers, then until `gear list-units` does. Prints
# "API_MS CLI_MS".
ROUND='
start_ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(start_ms)
eval "$1"
deadline=$((t0 + 60000))
until curl -sf --unix-socket /run/gear/gear.sock http://agent/health >/dev/null 2>&1; do
  [ "$(start_ms)" -lt "$deadline" ] || { echo "agent not ready after 60 s" >&2; exit 1; }
  sleep 0.01
done
t1=$(start_ms)
until $2 list-units >/dev/null 2>&1; do
  [ "$(start_ms)" -lt "$deadline" ] || { echo "gear list-units failed for 60 s" >&2; exit 1; }
  sleep 0.01
done
t2=$(start_ms)
echo "$((t1 - t0)) $((t2 - t0))"
'
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

in_host mount --make-rshared /
in_host install -m 755 "$REPO/tests/images/privileged-shim.sh" /usr/local/sbin/docker
cleanup_host() {
  in_host sh -c 'systemctl stop gear-native 2>/dev/null; true'
  in_host env PATH=/usr/local/sbin:/usr/bin:/bin docker run --rm --privileged --net=host --pid=host -v /run:/run:rslave -v /:/host:rslave \
    -e IMAGE=gear -e NAME=gear gear /usr/local/lib/gear/labels/uninstall.sh --purge >/dev/null 2>&1 || true
  in_host sh -c 'rm -f /usr/local/sbin/docker; mount --make-rprivate /'
}
trap 'cleanup_host; [[ -z ${GEAR_TEST_HOST:-} ]] && $TH down "$HOST" >/dev/null 2>&1; true' EXIT
# The INSTALL label as atomic expands it (IMAGE=gear NAME=gear).
in_host env PATH=/usr/local/sbin:/usr/bin:/bin docker run --rm --privileged --net=host --pid=host -v /run:/run:rslave -v /:/host:rslave \
  -e IMAGE=gear -e NAME=gear gear /usr/local/lib/gear/labels/install.sh >/dev/null 2>&1

spc_api=() spc_cli=() native_api=() native_cli=()
for ((i = 0; i < ROUNDS; i++)); do
  read -r a c < <(in_host sh -c "$ROUND" round 'systemctl start gear' /usr/local/bin/gear) || exit 1
  spc_api+=("$a") spc_cli+=("$c")
  # Five starts within 10 s would hit systemd's default start limit.
  in_host sh -c 'systemctl stop gear; systemctl reset-failed gear 2>/dev/null; true'
  read -r a c < <(in_host sh -c "$ROUND" round "systemd-run --quiet --unit=gear-native --collect -p Restart=no $REPO/bin/gear daemon" "env GEAR_AGENT=unix:///run/gear/gear.sock $REPO/bin/gear") || exit 1
  native_api+=("$a") native_cli+=("$c")
  in_host systemctl stop gear-native
done
m() { printf '%s\n' "$@" | median; }
echo
echo "agent start-to-ready, ms (median of $ROUNDS)   API /health   gear list-units"
printf '%-40s  %-12s  %s\n' "SPC: systemctl start gear" "$(m "${spc_api[@]}")" "$(m "${spc_cli[@]}")"
printf '%-40s  %-12s  %s\n' "baseline: gear daemon on the host" "$(m "${native_api[@]}")" "$(m "${native_cli[@]}")"
printf '%-40s  %-12s  %s\n' "ratio" "$(ratio "$(m "${spc_api[@]}")" "$(m "${native_api[@]}")")" "$(ratio "$(m "${spc_cli[@]}")" "$(m "${native_cli[@]}")")"
