# syntax=docker/dockerfile:1
# reflex-operator: the kopf operator for ReflexDatabase resources.
#
#   docker build -t ghcr.io/reflexdb/reflex-operator:0.1.0 .
#
# Two stages: the builder makes a virtual environment at /opt/venv from the hash-pinned runtime
# lock (wheels only, nothing compiled) and the project itself; the runtime stage is the same slim
# Python base with only that venv copied in, no pip, no compiler, and a numeric non-root user.
# tests/integration/test_image_install.py replays the builder's RUN steps in a fresh venv, so keep
# them plain shell commands on /opt/venv; tests/e2e/test_image.py builds the image with buildah and
# runs it against the local stack.
#
# Build arguments:
#   PYTHON_IMAGE  the base of both stages: a Debian bookworm image with Python 3.11 as `python`
#                 (default: the official slim image).
#   PIP_SOURCE    where the runtime wheels come from: `index` (default) the package index;
#                 `wheelhouse` the `wheels/` directory of the build context, with no index (a
#                 hermetic build). Every file is hash-checked against the lock either way.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Runtime dependencies only (requirements-runtime.lock has no dev extras) and the build backend
# (requirements-build.lock), every file hash-checked. The wheels/ directory is optional (the glob
# lets the build go on without it); its wheels land in /src beside the locks.
ARG PIP_SOURCE=index
COPY requirements-runtime.lock requirements-build.lock wheel[s] ./
RUN case "$PIP_SOURCE" in \
      index) set -- ;; \
      wheelhouse) set -- --no-index --find-links=. ;; \
      *) echo "PIP_SOURCE is index or wheelhouse, not: $PIP_SOURCE" >&2; exit 2 ;; \
    esac \
    && /opt/venv/bin/pip install "$@" --no-deps --require-hashes --only-binary=:all: \
       -r requirements-runtime.lock -r requirements-build.lock
# The project, built with the pinned backend just installed (no index needed). README.md is
# optional: the glob lets the build go on without it.
COPY pyproject.toml README.m[d] ./
COPY operator/ operator/
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="reflex-operator" \
      org.opencontainers.image.description="Kubernetes operator that runs ReflexDB database instances on AWS CodeBuild and ECS" \
      org.opencontainers.image.version="0.1.0"
# No package installer in the runtime image either: the base image's own pip, setuptools and wheel
# go (a base whose Python has no pip has nothing to remove).
RUN if python -m pip --version >/dev/null 2>&1; then python -m pip uninstall --yes pip setuptools wheel; fi
# The user has a name: kopf asks for it (getpass.getuser()) when it makes its identity, and without a
# passwd entry the operator would stop at start-up (tests/e2e/test_image.py runs it as 65532).
RUN groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532: the conventional "nonroot" uid/gid; numeric so runAsNonRoot can verify it.
USER 65532:65532
# 9090: Prometheus metrics (REFLEX_METRICS_PORT); 8081: kopf's /healthz (REFLEX_PROBE_PORT).
EXPOSE 9090 8081
ENTRYPOINT ["reflex-operator"]
CMD ["run"]
