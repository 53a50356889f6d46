#!/usr/bin/env bash
# build-web.sh — make the rootfs tarball of gear's test images, without Docker
# and without a registry (none is reachable from the test machines).
#
#   build-web.sh [OUT.tar]     (default /var/lib/gear-testhosts/images/test-web.tar)
#
# The tarball is a tiny root filesystem: a static busybox plus applet symlinks,
# a web root and two entry points. tests/host/testhost imports it into each
# test host's Docker twice:
#   test/web:latest    CMD ["/start"]  EXPOSE 8080
#       prints "web: listening on 8080" and serves with busybox httpd on
#       :8080 ($PORT) until SIGTERM ("web: stopping", exit 0).
#       GET / -> "hello from test/web";
#       GET /cgi-bin/env -> the container's environment (text/plain);
#       GET /env.txt -> the environment at start.
#   test/crash:latest  CMD ["/crash"]
#       prints "crash: exiting with 1", sleeps $CRASH_DELAY (default 1) s,
#       exits 1 (for restart tests).
# By hand: docker import --change 'CMD ["/start"]' --change 'EXPOSE 8080' \
#            - test/web:latest < test-web.tar
set -euo pipefail

out=${1:-/var/lib/gear-testhosts/images/test-web.tar}

# The static busybox of Debian's busybox-static (the dynamic one of the
# `busybox` package would need the host's libc inside the image).
bb=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/bin/busybox$' || true)
[[ -n $bb && -x $bb ]] || { echo "build-web.sh: busybox-static is not installed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rootfs=$tmp/rootfs
mkdir -p "$rootfs"/{bin,etc,www/cgi-bin,tmp,proc,sys,dev,root}
chmod 1777 "$rootfs/tmp"

cp "$bb" "$rootfs/bin/busybox"
for applet in sh ash cat echo env printenv sleep nc wget ip ifconfig httpd ls ps \
  kill grep sed head tail wc id hostname date true false test mkdir rm cp mv \
  touch ping netstat nslookup tr cut sort uniq awk timeout vi; do
  ln -s busybox "$rootfs/bin/$applet"
done

# Minimal user database, so id/whoami/httpd do not complain.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

echo 'hello from test/web' >"$rootfs/www/index.html"

# CGI: busybox httpd runs it with its own environment plus the CGI variables
# (checked: variables given with `docker run -e` show up here).
cat >"$rootfs/www/cgi-bin/env" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
exec env
CGI

# Entry point of test/web. The environment is also written to /www/env.txt
# at start (GET /env.txt), a fallback that needs no CGI. httpd runs in the
# foreground of this script, which stays PID 1 to act on SIGTERM: httpd as
# PID 1 has no handler for it, so `docker stop` would wait 10 s for nothing.
cat >"$rootfs/start" <<'START'
#!/bin/sh
env >/www/env.txt
/bin/busybox httpd -f -v -p "${PORT:-8080}" -h /www &
pid=$!
trap 'kill "$pid"; echo "web: stopping"; exit 0' TERM INT
echo "web: listening on ${PORT:-8080}"
wait "$pid"
START

# Entry point of test/crash.
cat >"$rootfs/crash" <<'CRASH'
#!/bin/sh
echo "crash: exiting with 1"
sleep "${CRASH_DELAY:-1}"
exit 1
CRASH

chmod 755 "$rootfs/start" "$rootfs/crash" "$rootfs/www/cgi-bin/env"

mkdir -p "$(dirname "$out")"
# Stable owner and time stamps: the same input gives the same tarball.
tar -C "$rootfs" --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00Z' \
  --sort=name -cf "$out.new" .
mv "$out.new" "$out"
echo "build-web.sh: wrote $out ($(du -h "$out" | cut -f1))"
