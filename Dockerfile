# syntax=docker/dockerfile:1
# Intuitivus Flow Studio: one image for the web (`serve`), the job worker (`worker`) and one-shot
# commands (`db upgrade`, `alerts export`, `data export`, backups with pg_dump).
#
#   docker build -t intuitivus-flow .
#   docker run --read-only -p 8000:8000 -e FLOW_SECRET_KEY=... -e FLOW_DATABASE_URL=... intuitivus-flow
#   docker run --read-only ... intuitivus-flow db upgrade          # migrations (a release step)
#   docker run --read-only --no-healthcheck ... intuitivus-flow worker
#   docker run --read-only --entrypoint pg_dump ... intuitivus-flow "$DATABASE_URL"   # backup
#
# tests/deploy/test_image.py lints this file with hadolint and runs its stages' commands (wheel,
# clean virtual environment, ENV, ENTRYPOINT/CMD, HEALTHCHECK) outside Docker.

# Debian 12 with Python 3.11, the version the test suite runs on. The digest pins the exact
# bytes (a tag moves with every patch release); bump both together, deliberately, after reading
# the new digest with `docker buildx imagetools inspect python:3.11-slim-bookworm`. (This one was
# recorded as checked against Docker Hub on 2026-08-24; the machine this file was written on
# cannot reach a registry, so the first CI build is the first to pull it.)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# --- build: the project's wheel, then a virtual environment with it and its dependencies ------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is built from, so unrelated edits (tests, docs) keep this layer cached.
COPY pyproject.toml README.md ./
COPY src ./src
# Byte-compiled here: the runtime filesystem is read-only, so nothing could be cached later.
RUN pip wheel --no-deps --wheel-dir /dist . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install /dist/*.whl \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# --- runtime: the virtual environment, a non-root user, nothing to build with -----------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="intuitivus-flow" \
      org.opencontainers.image.description="Intuitivus Flow Studio: AI agents and marketing-campaign automation (web, worker and one-shot commands)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.vendor="Intuitivus" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# pg_dump/pg_restore for backups and restores run from this same image. Debian's archive keeps
# one version per release, so pinning it would only break the build when the archive moves on.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric id, so Kubernetes can check runAsNonRoot and volumes can be owned by it.
RUN groupadd --system --gid 10001 flow \
    && useradd --system --uid 10001 --gid flow --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin flow \
    && install -d -o flow -g flow -m 0750 /var/lib/intuitivus-flow

COPY --from=build /opt/venv /opt/venv

# FLOW_DATA_DIR holds what an instance writes: the SQLite file when no PostgreSQL is configured,
# and the Prometheus multiprocess directory (`serve --workers N` makes a fresh
# $FLOW_DATA_DIR/prometheus-multiproc and points PROMETHEUS_MULTIPROC_DIR at it). /tmp takes
# upload spools and gunicorn's worker heartbeat files. Both are volumes, so the root filesystem
# can be read-only (`docker run --read-only`, Kubernetes readOnlyRootFilesystem with emptyDirs).
# Production by default: a strong FLOW_SECRET_KEY is required, `serve` never migrates (run
# `db upgrade` as a release step) and no demo workspace is created.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    FLOW_ENV=production \
    FLOW_SEED_DEMO=false \
    FLOW_DATA_DIR=/var/lib/intuitivus-flow
VOLUME ["/var/lib/intuitivus-flow", "/tmp"]
WORKDIR /var/lib/intuitivus-flow
USER 10001:10001
EXPOSE 8000

# Liveness of the web process on the CMD's port (the worker serves no HTTP: run it with
# --no-healthcheck; Kubernetes ignores this and uses the Deployments' probes). urlopen raises on
# any status other than 2xx, so the exit status is the verdict.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

ENTRYPOINT ["intuitivus-flow"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
