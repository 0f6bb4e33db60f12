# syntax=docker/dockerfile:1
# reflex-operator: the kopf operator for ReflexDatabase resources.
#
#   docker build -t ghcr.io/reflexdb/reflex-operator:0.1.0 .
#
# Two stages: the builder makes a virtual environment at /opt/venv from the hash-pinned runtime
# lock (wheels only, nothing compiled) and the project itself; the runtime stage is the same slim
# Python base with only that venv copied in, no pip, no compiler, and a numeric non-root user.
# tests/integration/test_image_install.py replays the builder's RUN steps in a fresh venv (there is
# no Docker engine in the test environment), so keep them plain shell commands on /opt/venv.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Runtime dependencies only (requirements-runtime.lock has no dev extras), every file hash-checked.
COPY requirements-runtime.lock ./
RUN /opt/venv/bin/pip install --no-deps --require-hashes --only-binary=:all: -r requirements-runtime.lock
# The project (README.md is optional: the glob lets the build go on without it).
COPY pyproject.toml README.m[d] ./
COPY operator/ operator/
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="reflex-operator" \
      org.opencontainers.image.description="Kubernetes operator that runs ReflexDB database instances on AWS CodeBuild and ECS" \
      org.opencontainers.image.version="0.1.0"
# No package installer in the runtime image either: the base image's own pip, setuptools and wheel go.
RUN python -m pip uninstall --yes pip setuptools wheel
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
