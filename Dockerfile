# referflow container image: one binary, `api` by default.
#
#   docker build -t referflow --build-arg VERSION=v1.2.3 .
#   docker run --rm referflow version
#
# The same image runs every subcommand: `api` (the default), `worker` and
# `migrate`; see docker-compose.yml for a complete stack.

# ---- build ----
# Go 1.26 on Debian bookworm. The bare `golang:1.26` tag is the newest Debian
# release (trixie), hence the explicit suffix; the binary is static
# (CGO_ENABLED=0), so the build distribution does not leak into the result.
FROM golang:1.26-bookworm AS build

WORKDIR /src
ENV CGO_ENABLED=0

# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

ARG VERSION=dev
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath \
      -ldflags "-s -w -X github.com/referflow/referflow/internal/version.Version=${VERSION}" \
      -o /out/referflow ./cmd/referflow

# ---- runtime ----
# debian:bookworm-slim rather than distroless: docker-compose.yml's health
# check for `api` runs curl against /readyz inside the container, and
# distroless has no shell or HTTP client. ca-certificates is needed for
# HubSpot's HTTPS API.
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 referflow \
 && useradd --system --uid 10001 --gid referflow \
      --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin referflow

COPY --from=build /out/referflow /usr/local/bin/referflow

USER 10001:10001

# REFERFLOW_HTTP_ADDR defaults to :8080; the worker serves its metrics on
# REFERFLOW_WORKER_METRICS_ADDR (set it to :9091 in a container).
EXPOSE 8080 9091

# No HEALTHCHECK here: the image also runs `worker` (only /metrics) and
# `migrate` (exits when done). The compose file checks `api` on /readyz.
ENTRYPOINT ["referflow"]
CMD ["api"]
