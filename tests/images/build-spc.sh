#!/usr/bin/env bash
# build-spc.sh — build gear's SPC image (the project's Dockerfile, unchanged)
# inside a test host, from local stand-ins of its public bases:
#
#   build-spc.sh HOST [TAG]        (TAG default gear:latest)
#
# 1. tests/images/build-base.sh --load HOST: debian:bookworm-slim and
#    node:24-bookworm-slim made locally, imported under their public tags;
# 2. tests/images/egress-proxy.mjs on the bridge address, because test hosts
#    have no way out: apt goes through it as an http proxy, npm uses it as a
#    registry mirror (--build-arg NPM_CONFIG_REGISTRY);
# 3. docker build in the host (the project directory is mounted at the same
#    path there). Prints the build's last lines; exit code of the build.
#
# Downloads are cached in /var/lib/gear-testhosts/images/build-cache (the
# .debs and npm tarballs), so a build in a fresh host takes about half a minute.
set -euo pipefail

HOST=${1:?usage: build-spc.sh HOST [TAG]}
TAG=${2:-gear:latest}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd -P)
IMAGES=/var/lib/gear-testhosts/images
PROXY=${GEAR_EGRESS_PROXY:-10.250.0.1:3142}

"$REPO/tests/images/build-base.sh" --load "$HOST" >/dev/null

# The proxy lives as long as this script (ended by its pid, which we started).
proxy_log=$(mktemp)
# The Debian mirror hosts the machine itself uses (its apt sources).
mirrors=$(grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+)[^[:space:]]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
  /etc/apt/sources.list.d/*.list 2>/dev/null | grep -oE 'https?://[^/]+' | sed -E 's#^https?://##' | sort -u | paste -sd, - || true)
[[ -n $mirrors ]] || { echo "build-spc: no Debian mirror in the machine's apt sources" >&2; exit 1; }
node "$REPO/tests/images/egress-proxy.mjs" --allow "$mirrors" --listen "$PROXY" --cache "$IMAGES/build-cache" >"$proxy_log" 2>&1 &
proxy_pid=$!
trap 'kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; rm -f "$proxy_log"' EXIT
for _ in $(seq 50); do
  grep -q '^listening' "$proxy_log" && break
  kill -0 "$proxy_pid" 2>/dev/null || { cat "$proxy_log" >&2; exit 1; }
  sleep 0.1
done

build_log=$(mktemp)
status=0
"$REPO/tests/host/testhost" exec "$HOST" -- docker build \
  --build-arg "http_proxy=http://$PROXY" \
  --build-arg "NPM_CONFIG_REGISTRY=http://$PROXY/" \
  -t "$TAG" "$REPO" >"$build_log" 2>&1 || status=$?
tail -n 20 "$build_log"
rm -f "$build_log"
if ((status != 0)); then echo "build-spc: docker build failed ($status); proxy log:" >&2; cat "$proxy_log" >&2; fi
exit "$status"
