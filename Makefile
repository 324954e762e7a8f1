# Umbrella Edge. `make demo` shows it working; `make test` is what CI runs.
GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 20s
# Packages whose tests run goroutines against each other get the race detector; that
# is every package here.
TESTFLAGS ?= -race -count=1 -timeout 12m

.PHONY: build test stress demo bench fuzz lint clean

build:
	$(GO) build -o $(BIN)/umbrella ./cmd/umbrella

test: lint
	$(GO) test $(TESTFLAGS) ./...

# The whole suite STRESS_ROUNDS times without and with -race, part of the time beside a
# CPU hog or on one CPU; lists every test that failed even once (whole outputs in
# stress.log). How a fix to a flaky test is proved: make stress STRESS_PKGS=./session/...
STRESS_ROUNDS ?= 5
STRESS_PKGS   ?= ./...
stress:
	$(GO) run ./internal/cmd/stress -rounds $(STRESS_ROUNDS) -report stress.log $(STRESS_PKGS)

demo:
	$(GO) run ./cmd/umbrella demo

# Throughput, latency, handshake rate and memory, side by side with raw TCP, in one run.
# Writes the table to bench.md (the README's table is copied from it).
bench:
	$(GO) run ./cmd/umbrella-bench -out bench.md

# Every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# staticcheck is a tool of the module (go.mod's tool line): unused code and common
# mistakes fail the build, with the version pinned there.
lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

clean:
	rm -rf $(BIN) stress.log
