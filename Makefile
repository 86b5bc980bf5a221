# entropyshare: see README.md. Every target installs what it needs.

GO        ?= go
BIN       := bin
# VERSION is the release tag (v0.2.0), or, between releases and before the
# first tag, 0.2.0-devel+COMMIT (.dirty when the tree has changes).
VERSION   ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || \
	echo "0.2.0-devel+$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$$(git diff --quiet HEAD 2>/dev/null || echo .dirty)")
LDFLAGS   := -s -w -X github.com/entropyshare/entropyshare/internal/cli.version=$(VERSION)
GOFLAGS_B := -trimpath -ldflags '$(LDFLAGS)'
FUZZTIME  ?= 3s
STATICCHECK_VERSION := 2026.2.2

# Debian packages the tests use: rngtest and dieharder judge the generator's
# output, wat2wasm builds the WAT plugins, curl and openssl are the HTTPS
# listener's other clients and make certificates of their own; swtpm is the
# TPM 2.0 the TPM tests sign with (swtpm-tools: its setup tools), and
# tpm2-tools and openssl check its keys and signatures from outside.
DEB_PKGS  := rng-tools5 dieharder wabt curl openssl swtpm swtpm-tools tpm2-tools

# The default target: the six binaries into ./bin. make help lists the rest.
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -o $(BIN)/ ./cmd/...

help:
	@echo 'make [target]:'
	@echo '  build         the binaries into ./bin (the default)'
	@echo '  demo          keys, configs, a sink and a source run on this machine'
	@echo '  test          what CI runs first: gofmt, vet, go mod tidy, go test -race, short fuzzing'
	@echo '  bench         benchmarks, written to BENCHMARKS.md'
	@echo '  fuzz          every fuzz target for minutes (FUZZTIME=3m)'
	@echo '  lint          gofmt, vet and staticcheck'
	@echo '  e2e           the whole system in network namespaces (root)'
	@echo '  arm-test      the ARMv7 binaries under qemu-user'
	@echo '  bbb           static ARMv7 binaries for the BeagleBone Black'
	@echo '  dist deb      release tarballs and .debs into dist/'
	@echo '  install       into DESTDIR and PREFIX (default /usr/local)'
	@echo '  package-test  installs the .deb and make install into throwaway roots and checks them'
	@echo '  clean         removes bin/ and demo/'

# bbb builds static binaries for the BeagleBone Black (ARMv7, one core).
bbb:
	@mkdir -p $(BIN)/linux-armv7
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build $(GOFLAGS_B) -o $(BIN)/linux-armv7/ ./cmd/...

# arm-test runs the ARM binaries under qemu-user (installs qemu-user-static).
arm-test: build bbb
	@scripts/arm-test.sh

.PHONY: help tidy-check arm-test bbb all build test test-go deps fmt-check vet lint fuzz fuzz-short bench demo e2e clean

# e2e proves the whole system in network namespaces (root; installs iproute2, nftables).
e2e: build
	@scripts/e2e.sh

all: build

# deps installs the Debian packages the tests need, when they are missing
# and this is a Debian machine where we may install (CI runs as root).
deps:
	@scripts/apt-install.sh $(DEB_PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# test is the README's test command and the first thing CI runs.
test: deps fmt-check vet tidy-check build test-go fuzz-short
	@echo "make test: $$($(GO) list ./... | wc -l) packages, $$(grep -rho --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | wc -l) fuzz targets, gofmt, vet, go mod tidy: all passed"

# tidy-check fails when go mod tidy would change go.mod or go.sum.
tidy-check:
	@cp go.mod go.mod.tidy-check && cp go.sum go.sum.tidy-check; \
	$(GO) mod tidy; status=0; \
	cmp -s go.mod go.mod.tidy-check && cmp -s go.sum go.sum.tidy-check || status=1; \
	mv go.mod.tidy-check go.mod; mv go.sum.tidy-check go.sum; \
	if [ $$status != 0 ]; then echo "go mod tidy would change go.mod or go.sum: run it and commit"; exit 1; fi

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
