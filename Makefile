# wsd — see README.md. `make run` starts the server; `make test` installs
# what the tests need (only when missing) and runs them.

GO        ?= go
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
ADDR      ?= 127.0.0.1:8080
BIN       := $(CURDIR)/bin

.PHONY: all build run test deps vet test-go fuzz bench bench-bin bench-server bench-hub bench-sendfloor bench-wsload bench-polling bench-cluster docs docs-protocol clean

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
	@out=$$(gofmt -l .); test -z "$$out" || (echo "gofmt needed: $$out" && exit 1)

test-go:
	$(GO) test -race -count=1 -timeout 30m ./...
	# Without the race detector, which allocates on its own: the allocation
	# tests, and the long churn test at full size (100,000 cycles).
	$(GO) test -count=1 -run 'Alloc' ./...
	$(GO) test -count=1 -run 'TestConnectCloseCycles' ./hub
	cd bench && $(GO) test -count=1 ./...

# Every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
fuzz:
	@for pkg in ./frame ./wsconn ./upgrade ./trace ./internal/jsonw ./deflate ./auth ./tlsrec; do \
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

# Binaries for the process-level benchmarks: ours and the peers'.
bench-bin:
	$(GO) build -o bench/bin/ ./cmd/wsd ./cmd/wsload
	cd bench && $(GO) build -o bin/ ./servers/... ./serverbench ./hubbench ./wsloadbench ./polling ./sendfloor ./clusterbench

# wsd beside gorilla, gobwas+easygo, gws and nbio: idle RSS and fds per
# connection up to 19,000, echo rate and server CPU per message; wsd,
# gorilla, gws and nbio again over wss:// (TLS 1.3, and wsd with TLS 1.2
# clients; SERVERBENCH_FLAGS=-tls=false skips them); then wsd -deflate on
# and takeover beside gws and gorilla with permessage-deflate on every
# connection (server-deflate.md).
bench-server: bench-bin
	cd bench && ./bin/serverbench -bin bin -out results $(SERVERBENCH_FLAGS)

# Fan-out to 19,000 receivers through each server's POST /broadcast, and
# publish-to-one-user latency under that load: wsd beside the peers; then a
# 1 KB JSON broadcast to receivers that negotiated permessage-deflate, wsd
# plain, on and takeover beside gws and gorilla (hub-deflate.md).
# HUBBENCH_FLAGS=-tls adds wsd, gorilla, gws and nbio with every connection
# over TLS (wss:// receivers, https:// publishes): rows "<server> TLS".
bench-hub: bench-bin
	cd bench && ./bin/hubbench -bin bin -out results $(HUBBENCH_FLAGS)

# wsd nodes joined through embedded NATS: 5 nodes × 19,000 receivers,
# a broadcast to all (fan-out and CPU per recipient beside one node alone),
# publish-to-user latency across nodes at 1,000/s, RSS per connection,
# NATS per broadcast and per publish. CLUSTERBENCH_FLAGS="-stretch …" for
# the million (see bench/README.md).
bench-cluster: bench-bin
	cd bench && ./bin/clusterbench -bin bin -out results $(CLUSTERBENCH_FLAGS)

# The kernel's charge for one frame sent to each of 9,000 loopback
# connections: sendto(2) per socket against io_uring batches.
bench-sendfloor: bench-bin
	cd bench && ./bin/sendfloor -out results

# The load client itself: RSS per idle connection at 19,000, and the
# largest echo rate one process drives against wsd.
bench-wsload: bench-bin
	cd bench && ./bin/wsloadbench -bin bin -out results

# WebSocket push (plain, ws+deflate, ws+deflate-takeover) against short and
# long polling on the same hub: bytes, packets, latency, server CPU and
# RSS, for 1,000 and 10,000 clients, and the saving per notification.
bench-polling: bench-bin
	cd bench && ./bin/polling -bin bin -fixture polling/testdata/chromium-fetch.txt -out results $(POLLING_FLAGS)

# The pictures in docs/, from real runs of bin/wsd, bin/wsload and bin/wsdump in
# headless Chromium: one PNG per shot (docs/screenshots lists them). Add a
# shot there and its name here.
DOCS_SHOTS ?= \
	dashboard \
	wsload-report \
	wsdump-web

docs: build
	$(GO) run ./docs/screenshots -bin $(BIN) -out docs $(DOCS_SHOTS)

# The learners' walk-through: a real session through wsdump, step by step.
docs-protocol: build
	mkdir -p docs
	$(GO) run ./docs/walkthrough docs/protocol.md

clean:
	rm -rf $(BIN)

# Before/after in one run: wsd and wsload as they were at BASE (a git
# revision), built from a temporary worktree into bench/bin/*-base, then
# bench-server, bench-hub and bench-wsload with both builds side by side,
# REPEAT runs each in alternating order (the tables show each run and the
# range), into bench/results/compare/. BASE=HEAD measures the noise: two
# identical builds.
BASE            ?=
REPEAT          ?= 3
COMPARE_SERVERS ?= wsd,wsd-base
COMPARE_OUT     ?= results/compare

.PHONY: bench-base bench-compare

bench-base:
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<git rev> (or bench-base)"; exit 2; }
	GO=$(GO) ./bench/build-base.sh $(BASE)

bench-compare: bench-bin bench-base
	mkdir -p bench/$(COMPARE_OUT)
	cp bench/bin/base.txt bench/$(COMPARE_OUT)/base.txt
	cd bench && ./bin/serverbench -bin bin -out $(COMPARE_OUT) -servers $(COMPARE_SERVERS) -repeat $(REPEAT) $(SERVERBENCH_FLAGS)
	cd bench && ./bin/hubbench -bin bin -out $(COMPARE_OUT) -servers $(COMPARE_SERVERS) -repeat $(REPEAT) $(HUBBENCH_FLAGS)
	cd bench && ./bin/wsloadbench -bin bin -out $(COMPARE_OUT) -clients wsload,wsload-base -repeat $(REPEAT)
