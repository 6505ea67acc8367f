# wsd — see README.md. `make run` starts the server; `make test` installs
# what the tests need (only when missing) and runs them.

GO        ?= go
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
ADDR      ?= 127.0.0.1:8080
BIN       := $(CURDIR)/bin

.PHONY: all build run test deps vet test-go fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	$(BIN)/wsd -addr $(ADDR)

# Installs the real clients the tests talk to (apt-get / npm, as root, only
# when missing), then vet + tests with the race detector.
test: deps vet test-go

deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt needed" && exit 1)

test-go:
	$(GO) test -race -count=1 ./...
	cd bench && $(GO) test -count=1 ./...

# Every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
fuzz:
	@for pkg in ./frame ./upgrade; do \
	  for t in $$($(GO) test $$pkg -list '^Fuzz' | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done

# Package benchmarks (ours beside gobwas/ws), as a markdown table.
bench:
	$(GO) test ./frame ./upgrade -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) | tee bench/results/codec.txt
	cd bench && $(GO) run ./benchtable < results/codec.txt > results/codec.md
	cat bench/results/codec.md

clean:
	rm -rf $(BIN)
