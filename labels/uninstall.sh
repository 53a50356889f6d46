#!/bin/sh
# uninstall.sh — what the gear image's UNINSTALL label runs (the same
# container as install.sh's):
#
#   .../labels/uninstall.sh [--purge]
#
# Stops the agent (its unit, and a container NAME that the RUN label started),
# then removes exactly what install.sh recorded in /var/lib/gear/spc/NAME.installed:
# disables the unit, deletes the files, and the directories it created if
# they are empty. The user's containers (ctr-*.service, /var/lib/gear) stay
# and keep running, unless --purge: then every gear container is deleted
# (`gear delete`, as the CLI would), gear.target goes, and so does /var/lib/gear.
# Idempotent: with nothing installed it only does what --purge asks.
set -eu
. "$(dirname "$0")/common.sh"

purge=
for arg in "$@"; do
  case $arg in
    --purge) purge=1 ;;
    *) die "unknown argument '$arg' (usage: uninstall.sh [--purge])" ;;
  esac
done

check_name "${NAME:-}"
[ -d "$(h /etc/systemd/system)" ] || die "no host at $HOST_ROOT (run through the image's UNINSTALL label, with -v /:/host)"
MANIFEST=$(manifest "$NAME")
entries=
if [ -f "$(h "$MANIFEST")" ]; then entries=$(grep -v '^#' "$(h "$MANIFEST")" || true); fi

# docker_api METHOD PATH: one call to the host's Docker engine (the image has
# node but no docker client); 404 (no such container) counts as success.
docker_api() {
  node -e '
    const req = require("http").request({ socketPath: "/run/docker.sock", method: process.argv[1], path: process.argv[2] }, (res) => {
      res.resume();
      res.on("end", () => process.exit(res.statusCode < 300 || res.statusCode === 304 || res.statusCode === 404 ? 0 : 1));
    });
    req.on("error", () => process.exit(1));
    req.end();' "$1" "$2"
}

# 1. Stop the agent: the unit (its ExecStop stops the container, --rm removes
#    it), then any container NAME left (one the RUN label started).
if systemctl is-active --quiet "$NAME.service"; then systemctl stop "$NAME.service"; fi
if [ -S /run/docker.sock ]; then
  docker_api POST "/containers/$NAME/stop?t=10" || log "could not stop container $NAME"
  docker_api DELETE "/containers/$NAME?force=true" || log "could not remove container $NAME"
fi

# 2. --purge: every gear container, through gear itself (acting directly on
#    the host: GEAR_HOST_ROOT=/host), then gear's own target and state.
if [ -n "$purge" ]; then
  ids=$(gear list-units --all --json | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () =>
      console.log(JSON.parse(s).Containers.map((c) => c.Id).join(" ")));')
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086 # ids are gear names: no spaces or globs
    gear delete $ids
  fi
  # Their volumes went with them; volumes kept by `gear delete --keep-volumes`
  # and those of interrupted installs go too, while gear's records of them exist.
  kept=$(ls "$(h "$STATE_DIR/kept-volumes")" 2>/dev/null | sed -n 's/\.json$//p')
  if [ -n "$kept" ]; then
    # shellcheck disable=SC2086 # gear names: no spaces or globs
    gear delete $kept || log "could not remove every kept volume"
  fi
  gear clean >/dev/null || log "gear clean failed"
  if [ -e "$(h /etc/systemd/system/gear.target)" ]; then
    systemctl disable --quiet gear.target || true
    rm -f "$(h /etc/systemd/system/gear.target)"
  fi
  rmdir "$(h /etc/systemd/system/gear.target.wants)" 2>/dev/null || true
fi

# 3. What install.sh added, newest first.
reversed=$(printf '%s\n' "$entries" | sed -n '1!G;h;$p')
printf '%s\n' "$reversed" | while read -r kind path; do
  case $kind in
    enabled) systemctl disable --quiet "$path" 2>/dev/null || true ;;
    file) if [ -e "$(h "$path")" ] && owned "$path" "$NAME"; then rm -f "$(h "$path")"; fi ;;
  esac
done
systemctl daemon-reload
rm -f "$(h "$MANIFEST")"
if [ -n "$purge" ]; then rm -rf "$(h "$STATE_DIR")"; fi
printf '%s\n' "$reversed" | while read -r kind path; do
  if [ "$kind" = dir ]; then rmdir "$(h "$path")" 2>/dev/null || true; fi
done

# The agent's socket directory in the host's /run, unless an agent still uses it.
if [ -d /run/gear ] && ! node -e 'require("net").connect("/run/gear/gear.sock").on("connect", () => process.exit(0)).on("error", () => process.exit(1))' 2>/dev/null; then
  rm -f /run/gear/gear.sock
  rmdir /run/gear 2>/dev/null || true
fi
log "uninstalled $NAME${purge:+, with every gear container and gear's state}"
