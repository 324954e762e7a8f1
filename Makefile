# Umbrella Edge. `make demo` shows it working; `make test` is what CI runs.
GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 20s
# Packages whose tests run goroutines against each other get the race detector; that
# is every package here.
TESTFLAGS ?= -race -count=1 -timeout 12m

.PHONY: build static test test-containers image nginx-image stress demo bench fuzz lint clean

# umbrella is every command; umbrella-client is the client alone, for small devices.
build:
	$(GO) build -o $(BIN)/umbrella ./cmd/umbrella
	$(GO) build -o $(BIN)/umbrella-client ./cmd/umbrella-client

# The binary to install on a server or in an image: static (no libc), and holding no
# path of this machine (-trimpath), so the same commit builds the same binary.
static:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/umbrella ./cmd/umbrella
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/umbrella-client ./cmd/umbrella-client

# Every benchmark runs once beside the tests (-benchtime 1x): not a measurement, only
# so that a benchmark that no longer works fails here, not in a later make bench.
test: lint
	$(GO) test $(TESTFLAGS) -bench . -benchtime 1x ./...

# The container images, built without pulling anything (no registry is reachable from
# CI): the binary is compiled here, static, and copied into an image FROM scratch;
# nginx is Debian's, from this machine's packages (docker/nginx/rootfs.sh). Podman
# keeps the HEALTHCHECK only with --format docker; --timestamp dates the image (and
# its files) at the last commit, so the same commit and packages give the same image.
ENGINE           ?= podman
IMAGE            ?= localhost/umbrella-edge:latest
NGINX_IMAGE      ?= localhost/umbrella-nginx:latest
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_FLAGS_podman = --format docker --timestamp $(SOURCE_DATE_EPOCH)
image:
	rm -rf $(BIN)/image
	mkdir -p $(BIN)/image/rootfs/usr/local/bin $(BIN)/image/rootfs/etc/umbrella $(BIN)/image/rootfs/var/lib $(BIN)/image/state
	$(MAKE) --no-print-directory static BIN=$(BIN)/image/rootfs/usr/local/bin
	$(ENGINE) build $(IMAGE_FLAGS_$(ENGINE)) -f docker/Dockerfile -t $(IMAGE) $(BIN)/image

nginx-image:
	docker/nginx/rootfs.sh $(BIN)/nginx-image
	$(ENGINE) build $(IMAGE_FLAGS_$(ENGINE)) -t $(NGINX_IMAGE) $(BIN)/nginx-image

# The container test on its own: both images, the compose stack, a client through each
# of its transports (it also runs in make test; see docker/containers_test.go).
test-containers:
	$(GO) test -count=1 -timeout 20m -run 'TestCompose' -v ./docker/

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
