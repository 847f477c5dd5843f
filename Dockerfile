# syntax=docker/dockerfile:1
#
# One build stage compiles every binary; each deployable is a small final stage (a target):
#
#   docker build --target api     -t cde-spark-provisioner-api .
#   docker build --target worker  -t cde-spark-provisioner-worker .
#   docker build --target cdesim  -t cde-spark-provisioner-cdesim .   # demo / tests only
#   docker build --target s3local -t cde-spark-provisioner-s3local .  # demo / tests only
#
# Version information is stamped with the linker (see internal/version):
#
#   docker build --target api --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#
# deploy/dockerfile_test.go checks this file (no Docker engine runs in CI) and builds the same
# binaries with the same flags.

ARG GO_VERSION=1.26.8

# --platform=$BUILDPLATFORM: cross-compile natively (CGO_ENABLED=0 needs no C toolchain)
# instead of emulating the target architecture.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
ARG VERSION_PKG=github.com/witboost-community/cde-spark-provisioner/internal/version
# Static (CGO_ENABLED=0: no libc, so the binaries run on an image without one), reproducible
# (-trimpath), stripped (-s -w), stamped (-X).
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X ${VERSION_PKG}.Version=${VERSION} -X ${VERSION_PKG}.Commit=${COMMIT} -X ${VERSION_PKG}.Date=${DATE}" \
      -o /out/ ./cmd/api ./cmd/worker ./cmd/cdesim ./cmd/s3local ./cmd/healthcheck

# distroless/static rather than scratch: it carries the CA bundle (the worker calls CDP, CDE and
# S3 over TLS), tzdata, /tmp and an /etc/passwd entry for the nonroot user 65532, all kept up
# to date by its maintainers, for ~2 MB. Pin its digest in your registry mirror.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
USER 65532:65532

FROM runtime AS api
COPY --from=build /out/api /out/healthcheck /usr/local/bin/
USER 65532:65532
EXPOSE 8093
ENTRYPOINT ["/usr/local/bin/api"]

FROM runtime AS worker
COPY --from=build /out/worker /out/healthcheck /usr/local/bin/
USER 65532:65532
# HEALTH_ADDR: /healthz, /readyz.
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/worker"]

FROM runtime AS cdesim
COPY --from=build /out/cdesim /out/healthcheck /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cdesim"]

FROM runtime AS s3local
COPY --from=build /out/s3local /out/healthcheck /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/s3local"]
