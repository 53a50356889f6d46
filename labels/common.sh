# common.sh — shared by install.sh and uninstall.sh (sourced, POSIX sh).
#
# Both run inside a one-off super-privileged container of the gear image, as
# the INSTALL and UNINSTALL labels start them: the host's / at $HOST_ROOT
# (/host), its /run at /run. Host paths are written without the prefix
# (/etc/systemd/system/gear.service) and mapped with h(). systemd is reached
# with the image's systemctl over the host's /run/systemd/private socket;
# SYSTEMD_IGNORE_CHROOT keeps systemctl from treating the container (whose /
# is not the root of PID 1, the host's systemd) as an offline chroot.

HOST_ROOT=${GEAR_HOST_ROOT:-/host}
LIB=/usr/local/lib/gear
export SYSTEMD_IGNORE_CHROOT=1

log() { echo "gear-spc: $*" >&2; }
die() { log "$*"; exit 1; }

h() { echo "$HOST_ROOT$1"; }

# NAME becomes a unit name, a container name and a file name: Docker's
# container-name alphabet, at least two characters, at most 64.
check_name() {
  case $1 in
    '' | *[!A-Za-z0-9_.-]* | [!A-Za-z0-9]*) die "bad NAME '$1' (letters, digits, _ . -; starting with a letter or digit)" ;;
  esac
  [ ${#1} -ge 2 ] && [ ${#1} -le 64 ] || die "bad NAME '$1' (2 to 64 characters)"
}

# IMAGE goes into ExecStart= as one word: an image reference's characters
# only. No whitespace, quotes, \, $ or %, so neither the shell, sed, nor
# systemd (variables, specifiers) can read anything into it.
check_image() {
  case $1 in
    '' | *[!A-Za-z0-9._/:@-]* | [!A-Za-z0-9]*) die "bad IMAGE '$1'" ;;
  esac
  [ ${#1} -le 255 ] || die "bad IMAGE '$1' (longer than 255 characters)"
}

# The host's client for RUNTIME (docker or podman), as a host path, looked up
# where a sysadmin's PATH would find it (the order gear itself uses).
find_host_bin() {
  for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    if [ -f "$(h "$dir/$1")" ] || [ -L "$(h "$dir/$1")" ]; then
      echo "$dir/$1"
      return 0
    fi
  done
  return 1
}

STATE_DIR=/var/lib/gear
SPC_DIR=$STATE_DIR/spc
manifest() { echo "$SPC_DIR/$1.installed"; }

# owned FILE NAME: FILE (host path) carries the marker install.sh writes into
# everything it creates, so a file of someone else is never overwritten.
owned() { grep -qxF "# gear-spc: $2" "$(h "$1")" 2>/dev/null; }

# write_file HOSTPATH MODE: content from stdin, written atomically through a
# temp file mktemp creates (a new name, O_EXCL, 0600 until chmod), renamed
# into place; a name someone planted (a symlink) is never written through.
write_file() {
  tmp=$(mktemp "$(h "$1").gear-spc.XXXXXX") || die "cannot create a temp file beside $1"
  if cat >"$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$(h "$1")"; then return 0; fi
  rm -f "$tmp"
  die "cannot write $1"
}

# remove_target: gear.target disabled (multi-user.target.wants/gear.target
# goes), its file and its empty .wants removed.
remove_target() {
  if [ -e "$(h /etc/systemd/system/gear.target)" ]; then
    systemctl disable --quiet gear.target || true
    rm -f "$(h /etc/systemd/system/gear.target)"
  fi
  rmdir "$(h /etc/systemd/system/gear.target.wants)" 2>/dev/null || true
}
