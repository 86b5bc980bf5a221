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

# lint uses an installed staticcheck (PATH or GOPATH/bin) when there is one;
# otherwise it fetches the pinned version.
lint: fmt-check vet
	@sc=$$(command -v staticcheck || ls "$$($(GO) env GOPATH)/bin/staticcheck" 2>/dev/null || true); \
	if [ -n "$$sc" ]; then echo "$$sc ./..."; "$$sc" ./...; \
	else $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...; fi

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

# Packaging. make dist: static builds for linux/armv7, arm64 and amd64, one
# tarball each and SHA256SUMS in dist/. make deb: a .deb each, with nfpm.
# make install: into DESTDIR and PREFIX (scripts/install.sh lists the
# folders it uses and how to move them). make package-test: installs the
# amd64 .deb and make install into throwaway roots and checks them.
# Man pages and archive times are dated from the last commit, so a rebuild
# of one commit gives the same bytes.
PREFIX      ?= /usr/local
DESTDIR     ?=
DIST_ARCHES := armv7 arm64 amd64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# nfpm 2.46 and later need modules (go.digitalxero.dev) that the module
# proxy here refuses; 2.45.2 is the newest that builds (RATIONALE.md).
NFPM_VERSION := v2.45.2
NFPM        ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
# Debian packages make package-test uses: dpkg and systemd-sysusers,
# systemd-tmpfiles and systemd-analyze, and setpriv (util-linux).
PACKAGE_TEST_DEBS := dpkg systemd util-linux

.PHONY: dist install deb package-test

dist: build
	@for a in $(DIST_ARCHES); do \
		case $$a in armv7) env="GOARCH=arm GOARM=7";; *) env="GOARCH=$$a";; esac; \
		echo "building linux-$$a"; \
		mkdir -p $(BIN)/linux-$$a; \
		env CGO_ENABLED=0 GOOS=linux $$env $(GO) build $(GOFLAGS_B) -o $(BIN)/linux-$$a/ ./cmd/... || exit 1; \
	done
	@SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) BIN=$(BIN) scripts/dist.sh $(VERSION) $(DIST_ARCHES)

deb: dist
	@SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) BIN=$(BIN) NFPM='$(NFPM)' scripts/deb.sh $(VERSION) $(DIST_ARCHES)

install: build
	@SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' scripts/install.sh $(BIN)

package-test: deb
	@$(MAKE) --no-print-directory deps DEB_PKGS='$(PACKAGE_TEST_DEBS)'
	@SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) BIN=$(BIN) scripts/package-test.sh $(VERSION)
