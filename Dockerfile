# syntax=docker/dockerfile:1.7
#
# One image per service, built from the repository root:
#
#   docker build --build-arg SERVICE=enrollment -t mentorship/enrollment:dev .
#
# SERVICE is one of enrollment, matching, sessions, analytics. The final stage holds the
# Python runtime and the service's virtual environment only (no sources, no uv, no build
# tools) and runs as an unprivileged user; the root filesystem can be mounted read-only.

# Both stages use the same base image: the virtual environment links to its interpreter.
FROM python:3.11-slim-bookworm AS build
ARG SERVICE
# Fail the build early with a clear message instead of installing nothing.
RUN case "${SERVICE}" in \
      enrollment|matching|sessions|analytics) ;; \
      *) echo "build with --build-arg SERVICE=enrollment|matching|sessions|analytics" >&2; exit 1 ;; \
    esac
# The uv release the Makefile and the lock file use.
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
# Compile bytecode at build time (the runtime filesystem is read-only), copy files out of
# the cache instead of hard-linking, never download a Python: the venv must use the
# interpreter of the base image, which the final stage shares at the same path.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Third-party dependencies first: this layer is rebuilt only when the lock file or a
# workspace member's pyproject.toml changes. uv needs every member's pyproject.toml to
# read the workspace, even those the service does not depend on.
COPY uv.lock pyproject.toml ./
COPY contracts/pyproject.toml contracts/
COPY libs/kit/pyproject.toml libs/kit/
COPY services/enrollment/pyproject.toml services/enrollment/
COPY services/matching/pyproject.toml services/matching/
COPY services/sessions/pyproject.toml services/sessions/
COPY services/analytics/pyproject.toml services/analytics/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "mentorship-${SERVICE}"

# Then the workspace packages, installed as wheels (--no-editable) so the venv does not
# point back at /src, which the final stage does not have.
COPY contracts/ contracts/
COPY libs/ libs/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "mentorship-${SERVICE}"

FROM python:3.11-slim-bookworm AS runtime
ARG SERVICE
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
# Owned by root and not writable by the app user: the code cannot be changed at run time.
COPY --from=build /app/.venv /app/.venv
# UVICORN_APP is read by the uvicorn command line, so CMD stays in exec form and uvicorn
# is PID 1 and receives SIGTERM directly (graceful shutdown). The migrate one-shot and the
# Kubernetes migration Job override the command with `mentorship migrate --service NAME`.
ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UVICORN_APP=${SERVICE}.main:create_app \
    OTEL_SERVICE_NAME=${SERVICE}
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["uvicorn", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-server-header", "--timeout-graceful-shutdown", "20"]
