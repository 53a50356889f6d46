#!/usr/bin/env bash
# build-trixie.sh — a Debian 13 (trixie) root with podman in it, for the one
# thing the machine's Debian 12 cannot do: run Quadlet's generator. Podman 4.3
# (bookworm) predates Quadlet; trixie's podman 5.x ships
# /usr/libexec/podman/quadlet, whose --dryrun prints the services it would
# generate from .container/.volume/.network files, and its warnings.
#
#   build-trixie.sh          make the root (cached), print its path
#
# The root is a directory (the tests chroot into it; nothing in it runs as a
# service), cached in $GEAR_IMAGES_DIR (default /var/lib/gear-testhosts/images)
# and rebuilt when this script is newer than it. It is made beside its final
# path and renamed into place, so a reader never sees half a root.
# Root only (debootstrap, chroot). The mirror is the machine's own.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
OUT=${GEAR_IMAGES_DIR:-/var/lib/gear-testhosts/images}
ROOT=$OUT/debian-trixie-podman
STAMP=$ROOT/.gear-built

log() { echo "build-trixie: $*" >&2; }
die() { log "$*"; exit 1; }

# The machine's Debian archive mirror (deb822 or one-line sources).
mirror() {
  local uri
  uri=$(grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+)[^[:space:]]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{ print $NF }' | grep -E "/debian/?\$" | head -n1 || true)
  [[ -n $uri ]] || die "no debian mirror in the machine's apt sources"
  echo "$uri"
}

fresh() { [[ -f $STAMP && ! $SELF -nt $STAMP && -x $ROOT/usr/libexec/podman/quadlet ]]; }

build() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  mkdir -p "$OUT"
  # One maker at a time: tests/run.sh starts one early in the background and
  # the export test's own call waits for it, then finds the root fresh.
  exec 8>"$OUT/.build-trixie.lock"
  flock 8
  if fresh; then return 0; fi
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  [[ -e /usr/share/debootstrap/scripts/trixie ]] || die "this debootstrap does not know trixie"
  local work archive started=$SECONDS
  archive=$(mirror)
  work=$(mktemp -d "$OUT/.build-trixie.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf --one-file-system '$work'" EXIT
  local root=$work/root
  log "debootstrap --variant=minbase trixie from $archive"
  debootstrap --variant=minbase trixie "$root" "$archive" >"$work/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see the end of its log:$(tail -n 20 "$work/debootstrap.log")"
  log "debootstrap took $((SECONDS - started)) s"
  # apt inside the root: the machine's resolver, and no service may start.
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  # Only podman and what it depends on: the generator needs nothing else.
  # Run in a private mount namespace so /proc's mount goes with it.
  unshare --mount --fork -- chroot "$root" /bin/sh -c '
    mount -t proc proc /proc
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman' \
    >"$work/apt.log" 2>&1 || die "apt-get install podman failed; see the end of its log:$(tail -n 20 "$work/apt.log")"
  rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  [[ -x $root/usr/libexec/podman/quadlet ]] || die "no /usr/libexec/podman/quadlet after installing podman"
  # (podman itself needs /proc; dpkg knows its version without it)
  chroot "$root" dpkg-query -W -f='podman ${Version}\n' podman >"$root/.gear-podman-version"
  date -u +%FT%TZ >"$root/.gear-built"
  log "$(cat "$root/.gear-podman-version"), root made in $((SECONDS - started)) s"
  rm -rf --one-file-system "$ROOT"
  mv "$root" "$ROOT"
}

build
echo "$ROOT"
