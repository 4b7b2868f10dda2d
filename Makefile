# rxguard — the two commands are `make run` and `make test` (see README.md).
# Every tool the build and tests need is installed here, pinned, into ./bin.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)
export GOFLAGS := -buildvcs=false
# A go.work in a parent directory must not change the build (it broke `make test`).
export GOWORK := off

BUF_VERSION          := v1.50.0
PROTOC_GEN_GO_GRPC   := v1.5.1
STATICCHECK_VERSION  := v0.7.0
GRPCURL_VERSION      := v1.9.4
# protoc-gen-go must match the protobuf runtime in go.mod.
PROTOC_GEN_GO        := $(shell $(GO) list -m -f '{{.Version}}' google.golang.org/protobuf)

# An execution count, not a duration: a duration races Go's fuzz coordinator
# at the deadline and fails with a bare "context deadline exceeded" and no
# input (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 30000x
# Minimising a newly interesting input may take 60 s by default (a CI run spent
# 55 s on one); a short bound keeps `make fuzz` predictable, and a crasher is
# still minimised enough to read.
FUZZMINIMIZETIME ?= 10s
# package:FuzzTarget pairs run briefly by `make fuzz` (and so in CI);
# package:FuzzTarget:FUZZTIME for a target whose executions are slow.
FUZZ_TARGETS := \
	./server/validate:FuzzCheckOrders \
	./server/validate:FuzzCheckOrdersJSON \
	./server/validate:FuzzRecordResponse \
	./server/nhsa:FuzzDecode3101 \
	./server/nhsa:FuzzDecode3103 \
	./knowledge/importer:FuzzDrugSheets \
	./knowledge/importer:FuzzDuplicateCharge \
	./knowledge/importer:FuzzCourseText \
	./knowledge/importer:FuzzPeriodFrequency \
	./knowledge/importer:FuzzItemFrequency \
	./knowledge/importer:FuzzCleanText \
	./knowledge/importer:FuzzCatalogueRows \
	./knowledge/importer:FuzzRestrictionText \
	./knowledge/wire:FuzzDecode \
	./knowledge:FuzzCanonicalCode \
	./knowledge:FuzzDecodeRecord \
	./server/grpccodec:FuzzRepairUTF8 \
	./server/decisionlog:FuzzParseID \
	./server:FuzzCodeVariantsNeverLowerVerdict:10000x \
	./server/cdshooks:FuzzCDSRequest \
	./server/cdshooks/jwtauth:FuzzJWT \
	./internal/strictconf:FuzzDecode \
	./knowledge/store:FuzzBaseRef \
	./knowledge/store:FuzzComposeChanges \
	./server/fix:FuzzApply \
	./server/history:FuzzParse \
	./internal/keyfile:FuzzParse \
	./internal/badgerdb:FuzzCheckKey \
	./internal/resident:FuzzParseMaps

.PHONY: run build docs tools generate check-generated lint test unit fuzz smoke clients bench bench-scale clean

## run: start the guard on its embedded demo knowledge (gRPC 127.0.0.1:7600, HTTP 127.0.0.1:7601)
run: build
	GOMEMLIMIT=$${GOMEMLIMIT:-256MiB} $(BIN)/rxguard serve

build:
	$(GO) build -o $(BIN)/rxguard ./cmd/rxguard

## docs: regenerate the configuration example in docs/operations.md from cmd/rxguard/example.yaml
docs:
	$(GO) test ./cmd/rxguard -run '^TestOperationsDocShowsTheExample$$' -count=1 -update-docs

## tools: install pinned code generators and linters into ./bin (outside the module's go.mod)
tools: $(BIN)/.tools-$(BUF_VERSION)-$(PROTOC_GEN_GO)-$(PROTOC_GEN_GO_GRPC)-$(STATICCHECK_VERSION)-$(GRPCURL_VERSION)

$(BIN)/.tools-%:
	mkdir -p $(BIN)
	cd $(BIN) && GOBIN=$(BIN) GOFLAGS= $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	cd $(BIN) && GOBIN=$(BIN) GOFLAGS= $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	cd $(BIN) && GOBIN=$(BIN) GOFLAGS= $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
	cd $(BIN) && GOBIN=$(BIN) GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	cd $(BIN) && GOBIN=$(BIN) GOFLAGS= $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
	rm -f $(BIN)/.tools-* && touch $@

## generate: regenerate Go from proto/ with buf and local plugins only
generate: tools
	rm -rf gen
	buf generate

## check-generated: fail if committed generated code differs from a fresh generation
check-generated: generate
	@git diff --exit-code --stat -- gen || { echo "generated code is out of date: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen)" || { git status --porcelain -- gen; echo "untracked generated files: run 'make generate' and commit"; exit 1; }

## lint: gofmt, go vet, staticcheck (also of client-examples/go, a module of its own that ./... skips),
## buf lint, buf breaking against the previous commit
lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	staticcheck ./...
	cd client-examples/go && $(GO) vet ./... && staticcheck ./...
	buf lint
	@if git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
		echo "buf breaking against HEAD~1"; buf breaking --against '.git#ref=HEAD~1'; \
	else echo "buf breaking: no previous commit with the API yet"; fi

## unit: the Go test suite with the race detector
# The decision log's tests bound how long a kill or a sync may hold a
# decision (tens of milliseconds); they run alone, after the rest, so two
# cores shared with every other test binary do not decide them.
TIMING_PKGS := ./server/decisionlog
unit:
	$(GO) test -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v -x -F "$$($(GO) list $(TIMING_PKGS))")
	$(GO) test -race -count=1 -timeout 5m $(TIMING_PKGS)

## fuzz: a short run of every fuzz target (seed corpora are committed under testdata/fuzz)
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; fuzztime=$${rest#*:}; \
		[ "$$fuzztime" != "$$rest" ] || fuzztime=$(FUZZTIME); \
		echo "fuzz $$pkg $$name ($$fuzztime)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$$fuzztime -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg || exit 1; \
	done

## smoke: real processes — `rxguard serve` with no arguments and the README's grpcurl example
smoke: build tools
	bash scripts/smoke.sh

## clients: every client example (Go, Python, Node.js, grpcurl; curl for 3101/3103 and CDS Hooks) against a
## live `rxguard serve`, output asserted; installs the Debian packages and npm modules they need when missing
clients: build tools
	bash client-examples/run.sh

## test: everything CI runs — the README's test command
test: tools check-generated lint unit fuzz smoke clients

## bench: the quick Go benchmarks (docs/PERFORMANCE.md; the synthetic release at a small size)
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

## bench-scale: the scale run at 706,000 entries and 61,000 rules — real processes pinned to separate
## cores, Go benchmarks at scale, OPA side by side (bench/opa); ≈ 15 min, not part of `make test`
bench-scale:
	bash scripts/bench-scale.sh

clean:
	rm -rf $(BIN) data
