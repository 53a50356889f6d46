#!/bin/sh
# install.sh — what the gear image's INSTALL label runs:
#
#   docker run --rm --privileged --net=host --pid=host -v /run:/run:rslave
#     -v /:/host:rslave -e IMAGE=${IMAGE} -e NAME=${NAME} ${IMAGE}
#     /usr/local/lib/gear/labels/install.sh [--start]
#
# It puts on the host:
#   /etc/systemd/system/NAME.service   the agent's unit (units/gear.service.hbs), enabled
#   /usr/local/bin/gear                the host's gear command: the CLI inside the
#                                      agent container, sending work to the agent
#   /var/lib/gear/spc/NAME.installed   the manifest of what it added (uninstall.sh
#                                      removes exactly that)
# With --start (arguments after the image in `atomic install IMAGE --start` or
# `podman container runlabel INSTALL IMAGE --start`) it also starts the unit.
#
# Idempotent: a second run rewrites the same files (with the new image name if
# that changed) and keeps the manifest. It refuses to overwrite a file it did
# not write. Run by podman (which sets container=podman), the unit and the
# command use the host's podman to run the agent; gear itself drives Docker.
set -eu
. "$(dirname "$0")/common.sh"

start=
for arg in "$@"; do
  case $arg in
    --start) start=1 ;;
    *) die "unknown argument '$arg' (usage: install.sh [--start])" ;;
  esac
done

check_name "${NAME:-}"
check_image "${IMAGE:-}"
[ -d "$(h /etc/systemd/system)" ] || die "no host at $HOST_ROOT (run through the image's INSTALL label, with -v /:/host)"
[ -S /run/systemd/private ] || die "no systemd socket at /run/systemd/private (mount the host's /run at /run)"

if [ "${container:-}" = podman ]; then runtime=podman; else runtime=docker; fi
RT=$(find_host_bin "$runtime") || die "no $runtime client on the host"

UNIT=/etc/systemd/system/$NAME.service
CMD=/usr/local/bin/gear
MANIFEST=$(manifest "$NAME")

# A unit of that name that is not ours (e.g. NAME=docker) is never shadowed.
fragment=$(systemctl show -P FragmentPath "$NAME.service" 2>/dev/null || true)
if [ -n "$fragment" ] && [ "$fragment" != "$UNIT" ]; then die "a unit $NAME.service exists already ($fragment); choose another NAME"; fi
for f in "$UNIT" "$CMD"; do
  if [ -e "$(h "$f")" ] && ! owned "$f" "$NAME"; then die "$f exists and was not written by gear's INSTALL label; remove it first"; fi
done

# record LINE: add LINE to the manifest (once) before the thing it names is
# made, so that uninstall.sh finds it even after a crash half-way.
record() {
  grep -qxF "$1" "$(h "$MANIFEST")" 2>/dev/null || echo "$1" >>"$(h "$MANIFEST")"
}

# Directories this creates (and uninstall.sh may remove once empty).
made_dirs=
for d in "$STATE_DIR" "$SPC_DIR"; do
  if [ ! -d "$(h "$d")" ]; then
    mkdir -m 755 "$(h "$d")"
    made_dirs="$made_dirs $d"
  fi
done
if [ ! -s "$(h "$MANIFEST")" ]; then
  printf '# What the INSTALL label of a gear image added to this host; its UNINSTALL label removes these.\n' | write_file "$MANIFEST" 644
fi
for d in $made_dirs; do record "dir $d"; done

# put HOSTPATH MODE: content from stdin, recorded in the manifest, then written (write_file).
put() {
  record "file $1"
  write_file "$1" "$2"
}

# The agent's unit, from the template; every placeholder must be filled.
unit=$(sed -e "s|{{name}}|$NAME|g" -e "s|{{image}}|$IMAGE|g" -e "s|{{runtime}}|$RT|g" "$LIB/units/gear.service.hbs")
case $unit in *'{{'*) die "units/gear.service.hbs has a placeholder install.sh does not fill" ;; esac
printf '# gear-spc: %s\n%s\n' "$NAME" "$unit" | put "$UNIT" 644

# The host's gear command. -w maps the caller's directory into the
# container, so relative paths (--env-file app.env) mean what they mean on the
# host; -t only when attached to a terminal (Ctrl-C then reaches gear).
# Linked containers' units run `gear apply-links` with it (ExecStartPost),
# possibly at boot before the agent runs: that waits for the agent, and gets
# the unit's MAINPID (the agent sees host pids).
put "$CMD" 755 <<EOF
#!/bin/sh
# gear-spc: $NAME
# The gear CLI of the agent container "$NAME" (image $IMAGE), which sends
# local operations to the agent over /run/gear/gear.sock. Written by the
# image's INSTALL label; its UNINSTALL label removes it.
if [ "\${1:-}" = apply-links ]; then
  i=0
  until [ "\$($RT inspect -f '{{.State.Running}}' $NAME 2>/dev/null)" = true ] || [ \$i -ge 240 ]; do
    i=\$((i + 1))
    sleep 0.5
  done
fi
tty=
if [ -t 0 ] && [ -t 1 ]; then tty=-t; fi
exec $RT exec -i \$tty -w "/host\$PWD" -e GEAR_AGENT=unix:///run/gear/gear.sock -e MAINPID $NAME /usr/local/bin/gear "\$@"
EOF

# Enable through the host's systemd. Enabling may create the wants directory.
wants=/etc/systemd/system/multi-user.target.wants
if [ ! -d "$(h "$wants")" ]; then record "dir $wants"; fi
record "enabled $NAME.service"
systemctl daemon-reload
systemctl enable --quiet "$NAME.service"

if [ -n "$start" ]; then systemctl start "$NAME.service"; fi
log "installed $NAME.service (enabled${start:+, started}) and $CMD; image $IMAGE, run by $RT"
