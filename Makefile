# hubd: the two commands a newcomer needs are `make run` and `make test`.

GO        ?= go
ADDR      ?= 127.0.0.1:8080
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# A count, not a duration: with a duration, Go before 1.27 can fail a
# target with a bare "context deadline exceeded" when the time runs out
# while a worker is busy (golang/go#75804), which is no finding at all.
FUZZTIME  ?= 50000x
BENCHTIME ?= 1s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# GoReleaser runs at this version through go run, as staticcheck does, so
# that it is not a dependency in go.mod.
GORELEASER  := github.com/goreleaser/goreleaser/v2@v2.17.0
PREFIX      ?= /usr/local

.PHONY: all run build install dist test chromium unit fuzz check fmt vet staticcheck bench clean \
	bench-idle bench-fanout bench-fanout-max bench-topics bench-burst bench-load cluster

all: build

## build: a static hubd binary in bin/, version stamped from git
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/hubd ./cmd/hubd

## install: build and put hubd in $(PREFIX)/bin (go install ./cmd/hubd puts it in $$(go env GOPATH)/bin)
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 bin/hubd $(DESTDIR)$(PREFIX)/bin/hubd

## dist: release archives for linux, darwin and windows on amd64 and arm64, with
## checksums, in dist/ (GoReleaser from .goreleaser.yaml, snapshot: nothing is published)
dist:
	$(GO) run $(GORELEASER) release --snapshot --clean

## run: build and start hubd with its embedded defaults on $(ADDR)
run: build
	./bin/hubd -addr $(ADDR)

## cluster: a local cluster in the foreground (scripts/cluster.sh): NATS with JetStream on
## 127.0.0.1:4222 and three hubd nodes on 127.0.0.1:8081-8083, storing in .cluster/; Ctrl-C stops all
cluster:
	VERSION=$(VERSION) exec scripts/cluster.sh

## test: vet, every test with the race detector, and a short run of every fuzz target
test: chromium vet unit fuzz

## chromium: install Chromium for the real-browser tests in browser/ when it is
## missing, with apt-get as root; without it those tests skip, except under CI=true
chromium:
	@[ -x /usr/bin/chromium ] && exit 0; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium && exit 0; \
	fi; \
	if [ "$$CI" = true ]; then echo "chromium: missing and not installed; the browser tests need it under CI=true" >&2; exit 1; fi; \
	echo "chromium: not installed; the browser tests will skip" >&2

unit:
	$(GO) test -race -count=1 ./...

## fuzz: each fuzz target for $(FUZZTIME) inputs
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## check: formatting, vet, staticcheck, then the whole test suite
check: fmt vet staticcheck test

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

## bench: every Go benchmark with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## bench-<scenario>: a load scenario against a fresh hubd on loopback (scripts/bench.sh);
## each writes bench/<date>/load-<scenario>.txt
bench-idle:
	scripts/bench.sh idle -subscribers 19000 -workers 2 -hold 60s -no-publish
bench-fanout:
	scripts/bench.sh fanout -subscribers 10000 -rate 20 -size 256 -duration 60s
bench-fanout-max:
	scripts/bench.sh fanout-max -subscribers 10000 -rate 0 -size 256 -duration 30s
	scripts/bench.sh fanout-max-8 -subscribers 10000 -rate 0 -publishers 8 -size 256 -duration 30s
bench-topics:
	scripts/bench.sh topics -subscribers 10000 -topics 10000 -rate 5000 -publishers 4 -size 256 -duration 60s
bench-burst:
	scripts/bench.sh burst -subscribers 1000 -count 10000 -publishers 1 -size 256 -duration 120s
	scripts/bench.sh burst-8 -subscribers 1000 -count 10000 -publishers 8 -size 256 -duration 120s

## bench-cluster: the single-node fan-out and the same load over three cluster nodes
## (scripts/bench-cluster.sh), back to back so that JetStream's cost is measured in
## the same minutes; writes bench/<date>/load-cluster-single-fanout.txt and bench/<date>/load-cluster-fanout.txt.
## bench-cluster-wide: 45,000 subscribers, more than one process may hold here, over three nodes.
.PHONY: bench-cluster bench-cluster-wide
bench-cluster:
	scripts/bench.sh cluster-single-fanout -subscribers 9000 -rate 5 -size 256 -duration 30s
	scripts/bench-cluster.sh fanout -subscribers 9000 -rate 5 -size 256 -duration 30s
bench-cluster-wide:
	scripts/bench-cluster.sh wide -subscribers 45000 -workers 3 -rate 2 -publishers 4 -size 256 -duration 30s -drain 30s

## bench-vs-nchan: issue 13's scenarios (idle, fanout-max, fanout-5, burst, topics) against
## hubd and nginx+nchan back to back, each started fresh per scenario (scripts/bench-vs.sh;
## installs nginx-light and libnginx-mod-nchan when missing, as root); REF=<rev> adds hubd
## built from that commit as a third target. SCENARIOS="fanout-max burst" limits the run;
## writes bench/<date>/vs/<stamp>-<scenario>-<target>.txt and the table bench/<date>/vs/<stamp>-summary.md
## bench-vs-ref: the same scenarios against hubd and hubd built from REF=<rev>
## bench-vs-cluster: hubd alone, with -cluster embedded and with a separate NATS server
## (bin/nats-server), back to back, in issue 25's scenarios (topics: 5,000 subscribers on
## 5,000 topics, 8 publishers; burst: 1,000 subscribers, one sequential publisher) unless
## SCENARIOS says otherwise; REF=<rev> adds the three built from that commit
.PHONY: bench-vs-nchan bench-vs-ref bench-vs-cluster
bench-vs-nchan:
	scripts/bench-vs.sh hubd nchan $(if $(REF),hubd@$(REF))
bench-vs-ref:
	@[ -n "$(REF)" ] || { echo "bench-vs-ref: give the reference commit, REF=<rev>" >&2; exit 2; }
	scripts/bench-vs.sh hubd hubd@$(REF)
bench-vs-cluster:
	SCENARIOS="$${SCENARIOS:-topics burst}" scripts/bench-vs.sh hubd hubd-embedded hubd-nats \
	  $(if $(REF),hubd@$(REF) hubd-embedded@$(REF) hubd-nats@$(REF))

## bench-load: every load scenario, one after the other
bench-load: bench-idle bench-fanout bench-fanout-max bench-topics bench-burst

clean:
	rm -rf bin dist
