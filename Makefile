# entropyshare: see README.md. Every target installs what it needs.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -s -w -X github.com/entropyshare/entropyshare/internal/cli.version=$(VERSION)
GOFLAGS_B := -trimpath -ldflags '$(LDFLAGS)'
FUZZTIME  ?= 3s
STATICCHECK_VERSION := 2026.2.2

# Debian packages the tests use: rngtest and dieharder judge the generator's
# output, wat2wasm builds the WAT plugins.
DEB_PKGS  := rng-tools5 dieharder wabt

# bbb builds static binaries for the BeagleBone Black (ARMv7, one core).
bbb:
	@mkdir -p $(BIN)/linux-armv7
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build $(GOFLAGS_B) -o $(BIN)/linux-armv7/ ./cmd/...

# arm-test runs the ARM binaries under qemu-user (installs qemu-user-static).
arm-test: build bbb
	@scripts/arm-test.sh

.PHONY: arm-test bbb all build test test-go deps fmt-check vet lint fuzz fuzz-short bench demo e2e clean

# e2e proves the whole system in network namespaces (root; installs iproute2, nftables).
e2e: build
	@scripts/e2e.sh

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -o $(BIN)/ ./cmd/...

# deps installs the Debian packages the tests need, when they are missing
# and this is a Debian machine where we may install (CI runs as root).
deps:
	@missing=""; \
	for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
		else \
			echo "missing Debian packages:$$missing (install them, or run as root)"; exit 1; \
		fi; \
	fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# test is the README's test command and what CI runs.
test: deps fmt-check vet build test-go fuzz-short

test-go:
	ENTROPYSHARE_TOOLS=required $(GO) test -race -count=1 ./...

lint: fmt-check vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# fuzz-short runs every fuzz target briefly (part of make test); fuzz runs
# them for FUZZTIME each (default here 3s; make fuzz sets minutes).
fuzz-short:
	@scripts/fuzz.sh $(FUZZTIME)

fuzz:
	@scripts/fuzz.sh $(if $(filter 3s,$(FUZZTIME)),3m,$(FUZZTIME))

bench: deps build
	@scripts/bench.sh

demo: build
	@scripts/demo.sh

clean:
	rm -rf $(BIN) demo
