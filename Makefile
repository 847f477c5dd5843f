# The README's two commands are `make run` and `make test`; everything else here supports them.
GO ?= go
# The race detector needs cgo; the machines this runs on have gcc.
export CGO_ENABLED ?= 1

.PHONY: test vet tidy deadcode workflowcheck run temporal-cli helm-cli fmt fuzz bench histories

## run: the full local stack (Temporal dev server + Web UI, CDE simulator, local S3, worker, API)
run:
	$(GO) run ./cmd/dev

## test: vet and every test with the race detector, end-to-end tests included (what CI runs)
test: vet tidy deadcode workflowcheck temporal-cli helm-cli
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

## tidy: go.mod and go.sum are what `go mod tidy` makes of them, in the main module and in each pinned
## tool's module (tools/*): nothing missing, nothing unused, no direct dependency marked indirect
TOOL_MODULES := $(patsubst %/go.mod,%,$(wildcard tools/*/go.mod))
tidy:
	@for m in . $(TOOL_MODULES); do \
		$(GO) -C $$m mod tidy -diff || { echo "$$m: go.mod/go.sum are not tidy: run 'go -C $$m mod tidy' (the diff above is what it would change)"; exit 1; }; \
	done

## deadcode: no function that nothing calls (golang.org/x/tools/cmd/deadcode, pinned in tools/deadcode).
## Reachable from a main package or from a test counts as used (-test). Left out of the report:
## - Example functions of *_test.go files: documentation, which go test compiles (and runs only with an
##   // Output: comment);
## - DEADCODE_KEEP, one regexp of package.Func or package.Type.Method names to keep anyway (none
##   today: ^$$ matches no name).
DEADCODE_KEEP ?= ^$$
deadcode:
	@bin=$$($(GO) -C tools/deadcode tool -n deadcode) && \
	out=$$($$bin -test -f '{{range .Funcs}}{{println .Position $$.Name .Name}}{{end}}' ./...) && \
	found=$$(printf '%s\n' "$$out" | awk -v keep='$(DEADCODE_KEEP)' \
		'NF && !($$1 ~ /_test[.]go:/ && $$3 ~ /^Example/) && !(($$2 "." $$3) ~ keep)') && \
	if [ -n "$$found" ]; then echo "unused code: remove it, or see the deadcode target of the Makefile"; echo "$$found"; exit 1; fi

## workflowcheck: Temporal's static check that the workflow code is deterministic (pinned in
## tools/workflowcheck); the replay test proves the same on recorded histories
workflowcheck:
	@bin=$$($(GO) -C tools/workflowcheck tool -n workflowcheck) && $$bin ./workflows/...

## temporal-cli: build the Temporal CLI pinned in tools/temporal (cached after the first time)
temporal-cli:
	@echo "Building the pinned Temporal CLI (tools/temporal; the first time takes a few minutes)..."
	@$(GO) -C tools/temporal tool -n temporal > /dev/null

## helm-cli: build the Helm CLI pinned in tools/helm, for the chart checks in deploy/ (cached after the first time)
helm-cli:
	@echo "Building the pinned Helm CLI (tools/helm; the first time takes a minute or two)..."
	@$(GO) -C tools/helm tool -n helm > /dev/null

## fmt: format the tree
fmt:
	gofmt -w $$(git ls-files '*.go')

## fuzz: run the descriptor decoder fuzzer (FUZZTIME=60s by default)
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./descriptor -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)

## bench: the benchmark harness (cmd/bench/): provision wall time against a sequential client, worker peak memory
## on a 1 GiB jar, bytes sent on an unchanged redeploy, a provision through 503s, a burst of 200 provisions,
## validate against the Temporal floor, worst-case decoding; writes BENCHMARKS.md.
## BENCH_FLAGS passes options, e.g. BENCH_FLAGS='-runs 9 -keep' (go run ./cmd/bench -h lists them).
BENCH_FLAGS ?=
bench: temporal-cli
	$(GO) run ./cmd/bench -via 'make bench' $(BENCH_FLAGS)

## histories: record the history of every workflow path from the local stack (the pinned Temporal
## dev server, the CDE simulator, the local S3, the real worker and API) into
## workflows/testdata/histories/$(HISTORIES_LABEL), which workflows/replay_test.go replays on every
## make test. Bump HISTORIES_LABEL with each landed change of the workflow code.
HISTORIES_LABEL ?= v5
histories: temporal-cli
	$(GO) test -count=1 -run '^TestEveryPathRecordsAHistoryThatReplays$$' ./e2e/ -args -record-histories=$(CURDIR)/workflows/testdata/histories/$(HISTORIES_LABEL)
