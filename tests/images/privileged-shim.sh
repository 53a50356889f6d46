#!/bin/sh
# privileged-shim.sh — TEST HOSTS ONLY. Installed as /usr/local/sbin/docker in
# a throwaway test host by tests/integration/spc.test.ts and bench/spc.sh;
# never in what users run.
#
# `docker run --privileged` cannot start a container on these machines: runc
# cannot apply CAP_SYS_RESOURCE, which is outside the sandbox's capability
# bounding set (shared/TESTHOST.md). This swaps that one flag for its nearest
# equivalent (every other capability; seccomp, AppArmor and /proc paths
# unconfined, since the agent writes /proc/sys in containers' network
# namespaces) and passes everything else to /usr/bin/docker unchanged.
for a; do
  shift
  if [ "$a" = --privileged ]; then
    set -- "$@" --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
      --security-opt apparmor=unconfined --security-opt systempaths=unconfined
  else
    set -- "$@" "$a"
  fi
done
exec /usr/bin/docker "$@"
