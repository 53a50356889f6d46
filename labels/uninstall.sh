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
# and keep running (gear.target goes only if none is left), unless --purge:
# then every gear container is deleted (`gear delete`, as the CLI would),
# gear.target goes, and so does /var/lib/gear. A container NAME that is not
# from a gear image (no io.gear.spc label) is never stopped or removed.
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

# gear_container NAME: exit 0 when a container NAME exists and comes from a
# gear image (it inherits the image's io.gear.spc label), 1 when there is
# none, 2 when it is someone else's.
gear_container() {
  node -e '
    require("http").get({ socketPath: "/run/docker.sock", path: `/containers/${encodeURIComponent(process.argv[1])}/json` }, (res) => {
      let s = "";
      res.on("data", (d) => (s += d)).on("end", () => {
        if (res.statusCode !== 200) process.exit(1);
        process.exit("io.gear.spc" in (JSON.parse(s).Config.Labels || {}) ? 0 : 2);
      });
    }).on("error", () => process.exit(1));' "$1"
}

# 1. Stop the agent: the unit (its ExecStop stops the container, --rm removes
#    it), then any container NAME left (one the RUN label started), if it is
#    gear's: a container someone else called NAME is left alone.
if systemctl is-active --quiet "$NAME.service"; then systemctl stop "$NAME.service"; fi
if [ -S /run/docker.sock ]; then
  rc=0
  gear_container "$NAME" || rc=$?
  if [ "$rc" = 0 ]; then
    docker_api POST "/containers/$NAME/stop?t=10" || log "could not stop container $NAME"
    docker_api DELETE "/containers/$NAME?force=true" || log "could not remove container $NAME"
  elif [ "$rc" = 2 ]; then
    log "container $NAME is not from a gear image (no io.gear.spc label): left alone"
  fi
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
  remove_target
elif [ -z "$(ls -A "$(h "$STATE_DIR/containers")" 2>/dev/null)" ]; then
  # No container left: gear.target has nothing to bring back at boot.
  remove_target
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
# The containers' restart backoff counts (/run/gear-backoff) go with the containers.
if [ -n "$purge" ]; then rm -rf "$(h "$STATE_DIR")" /run/gear-backoff; fi
printf '%s\n' "$reversed" | while read -r kind path; do
  if [ "$kind" = dir ]; then rmdir "$(h "$path")" 2>/dev/null || true; fi
done

# The agent's socket directory in the host's /run, unless an agent still uses it;
# with it the record of gear's last systemd Reload (src/host/shared-reload.ts).
if [ -d /run/gear ] && ! node -e 'require("net").connect("/run/gear/gear.sock").on("connect", () => process.exit(0)).on("error", () => process.exit(1))' 2>/dev/null; then
  rm -f /run/gear/gear.sock /run/gear/systemd-reload
  rmdir /run/gear 2>/dev/null || true
fi
log "uninstalled $NAME${purge:+, with every gear container and gear's state}"
