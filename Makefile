# hubd: the two commands a newcomer needs are `make run` and `make test`.

GO        ?= go
ADDR      ?= 127.0.0.1:8080
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all run build test unit fuzz check fmt vet staticcheck bench clean \
	bench-idle bench-fanout bench-fanout-max bench-topics bench-burst bench-load

all: build

## build: a static hubd binary in bin/, version stamped from git
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/hubd ./cmd/hubd

## run: build and start hubd with its embedded defaults on $(ADDR)
run: build
	./bin/hubd -addr $(ADDR)

## test: vet, every test with the race detector, and a short run of every fuzz target
test: vet unit fuzz

unit:
	$(GO) test -race -count=1 ./...

## fuzz: each fuzz target for $(FUZZTIME)
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

## bench-<scenario>: a load scenario against a fresh hubd (scripts/bench.sh has the parameters)
bench-idle bench-fanout bench-fanout-max bench-topics:
	scripts/bench.sh $(@:bench-%=%)

bench-burst:
	scripts/bench.sh burst
	scripts/bench.sh burst-8

## bench-load: every load scenario, one after the other
bench-load: bench-idle bench-fanout bench-fanout-max bench-topics bench-burst

clean:
	rm -rf bin
