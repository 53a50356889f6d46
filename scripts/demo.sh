#!/usr/bin/env bash
# npm run demo: gear's main job, end to end, on a fresh machine of this kind
# (Debian 12, root): install what is needed, build, boot a disposable systemd
# test host with its own Docker, and in it run
#   gear install test/web web-1 --start -p 8080:0
# then ask the container over HTTP and show what systemd and the journal say.
# The host is torn down at the end unless DEMO_KEEP=1 (then:
# tests/host/testhost exec gear-demo -- bin/gear ...; testhost down gear-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# The pinned Node.js 24 that npm ci installs (see tests/run.sh); bin/gear picks it too.
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build
tests/host/testhost setup >/dev/null
host=gear-demo
[ "${DEMO_KEEP:-}" = 1 ] || trap 'tests/host/testhost down "$host" >/dev/null 2>&1' EXIT
tests/host/testhost up "$host" 60 >/dev/null
in_host() { tests/host/testhost exec "$host" -- "$@"; }
ip=$(tests/host/testhost env "$host" | sed -n "s/.*TESTHOST_IP=['\"]\{0,1\}\([0-9.]*\).*/\1/p")

step() { printf '\n$ %s\n' "$*"; }
step gear install test/web web-1 --start -p 8080:0
out=$(in_host "$PWD/bin/gear" install test/web web-1 --start -p 8080:0)
echo "$out"
port=$(echo "$out" | sed -n 's/.*8080 -> \([0-9]*\).*/\1/p')
step curl "http://$ip:$port/"
for _ in $(seq 50); do curl -sf "http://$ip:$port/" && break; sleep 0.2; done
step gear status web-1;        in_host "$PWD/bin/gear" status web-1
step gear list-units;          in_host "$PWD/bin/gear" list-units
step systemctl cat ctr-web-1;  in_host systemctl cat ctr-web-1
step gear logs web-1;          in_host "$PWD/bin/gear" logs web-1
step gear delete web-1;        in_host "$PWD/bin/gear" delete web-1
