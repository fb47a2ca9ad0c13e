# windmill-git-sync with git, Node and a pinned windmill-cli.
#
#   docker build -t windmill-git-sync .
#   docker build --build-arg WMILL_VERSION=1.820.0 -t windmill-git-sync .
#
# Match WMILL_VERSION to the Windmill server. The default is the version the
# tests run (tests/wmill/package.json); tests/image.rs checks that they agree.
ARG WMILL_VERSION=1.819.0

FROM rust:1-slim-trixie AS build
WORKDIR /src
# Dependencies first, against a placeholder main, so that a change under
# src/ rebuilds only this crate.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
# COPY keeps the files' own mtimes, which may be older than the placeholder's
# build: touch so that cargo sees main.rs as changed.
RUN touch src/main.rs && cargo build --release --locked

FROM debian:trixie-slim AS wmill
ARG WMILL_VERSION
# Debian's packages follow the suite's security updates; pinning their exact
# versions would break the build each time the archive moves on.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates nodejs npm \
    && rm -rf /var/lib/apt/lists/*
# --ignore-scripts, as the tests install it: the one install script is
# esbuild's check of its own binary, and `wmill sync pull` never runs esbuild.
RUN npm install --prefix /opt/wmill --omit=dev --ignore-scripts --no-audit --no-fund \
        "windmill-cli@${WMILL_VERSION}" \
    && rm -rf /root/.npm

FROM debian:trixie-slim
# git depends on perl only for commands the tool never runs (send-email, svn,
# cvsimport, instaweb); the tool uses built-in commands alone. Leaving out
# perl's module trees saves about 50 MB. perl-base, which dpkg and debconf
# use, is part of the base image and keeps its own modules. Manuals,
# translations and documentation other than the licences are left out too,
# and apt's caches are cleaned here rather than trusting the base image to
# do it: together about 190 MB on a base without Docker's apt settings.
# Unpinned Debian packages, as in the wmill stage.
# hadolint ignore=DL3008
RUN printf 'path-exclude %s\n' '/usr/share/perl/*' '/usr/lib/*/perl/*' \
        '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*' \
        '/usr/share/doc/*' '/usr/share/lintian/*' \
        > /etc/dpkg/dpkg.cfg.d/windmill-git-sync-slim \
    && printf 'path-include %s\n' '/usr/share/doc/*/copyright' \
        >> /etc/dpkg/dpkg.cfg.d/windmill-git-sync-slim \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git nodejs \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# No tini: the tool handles SIGINT and SIGTERM itself (a PID 1 gets no
# default signal actions, but installed handlers work) and ends each child's
# process group. Orphans it could leave as zombies die with the container at
# the end of the one-shot run. `docker run --init` adds an init if wanted.

RUN groupadd --gid 10001 windmill \
    && useradd --uid 10001 --gid 10001 --home-dir /home/windmill --create-home \
        --shell /usr/sbin/nologin windmill \
    && mkdir /workspace \
    && chown windmill:windmill /workspace

COPY --from=wmill /opt/wmill /opt/wmill
RUN ln -s /opt/wmill/node_modules/windmill-cli/esm/main.js /usr/local/bin/wmill
COPY --from=build /src/target/release/windmill-git-sync /usr/local/bin/windmill-git-sync

# wmill orders YAML keys by the process locale; C.UTF-8 keeps the snapshot
# the same wherever the image runs.
ENV HOME=/home/windmill \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8

# Numeric, so that a runtime can tell the user is not root without reading
# the image's /etc/passwd (Kubernetes' runAsNonRoot needs that).
USER 10001:10001
# A persistent work_dir goes below here, e.g. "work_dir": "/workspace/repo".
WORKDIR /workspace
VOLUME /workspace

ENTRYPOINT ["/usr/local/bin/windmill-git-sync"]
