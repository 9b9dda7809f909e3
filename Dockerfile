# syntax=docker/dockerfile:1
# Build a static hubd and run it as an unprivileged user in an empty image.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hubd ./cmd/hubd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hubd /hubd
# 65532 is the distroless "nonroot" user; hubd needs no privileges.
USER 65532:65532
EXPOSE 8080
# Inside a container the address must not be loopback-only, and hubd
# refuses a public address without authorization: give it a credential,
#   docker run -e HUBD_JWT_SECRET=... -e HUBD_ANONYMOUS_SUBSCRIBE='public/**' hubd
# or, on a private network only, -e HUBD_INSECURE_ANONYMOUS=true.
# To keep the history across restarts, mount a volume writable by 65532
# and set HUBD_HISTORY_FILE=/data/history.
ENV HUBD_ADDR=0.0.0.0:8080
ENTRYPOINT ["/hubd"]
