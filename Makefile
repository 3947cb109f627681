# Rapport — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

STATE    := .rapport
BIN      := $(STATE)/bin
DATA     ?= ../shared/data
SERVICES := customer pipeline ticket partner analytics integration gateway
MODULES  := gen pkg deploy/dev deploy/bench $(addprefix services/,$(SERVICES))
BUF      := go run github.com/bufbuild/buf/cmd/buf@v1.75.0
export BUF_CACHE_DIR := $(CURDIR)/$(STATE)/buf-cache
export GOFLAGS := -buildvcs=false

# The throwaway test cluster (fsync off: tests need speed, not durability).
TEST_PG_DIR  := $(STATE)/testpg
TEST_PG_PORT ?= 55433

.PHONY: run build generate test check unit bench bench-search bench-projection bench-sla bench-insight bench-partner bench-lag bench-deals lint tools clean

## run: start the whole suite with demo data (Ctrl-C stops it)
run: build
	$(BIN)/rapport-dev -root . -state $(STATE) -bin $(BIN) -data $(DATA)

## build: build every binary into .rapport/bin
build:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do go build -o $(BIN)/$$s ./services/$$s/cmd/$$s; done
	@go build -o $(BIN)/rapport-dev ./deploy/dev/cmd/rapport-dev

## generate: regenerate gen/ from proto/ (offline: vendored google/api, local plugins)
generate:
	$(BUF) generate
	cp gen/openapi/rapport.swagger.json services/gateway/internal/apidoc/rapport.swagger.json

## test: every check and every test, against a real PostgreSQL started here
test: check unit

## check: generated code fresh, buf lint/breaking, go vet, gofmt, module versions aligned
check:
	$(BUF) lint
	@if git rev-parse -q --verify main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then \
		$(BUF) breaking --against "$${BUF_BREAKING_AGAINST:-.git#branch=main}"; fi
	$(MAKE) --no-print-directory generate
	@git diff --exit-code --stat -- gen services/gateway/internal/apidoc || { echo "gen/ is stale: run make generate and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- gen)" || { echo "gen/ has untracked generated files: run make generate and commit" >&2; exit 1; }
	@bad=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$bad" || { echo "gofmt needed: $$bad" >&2; exit 1; }
	go vet $(addprefix ./,$(addsuffix /...,$(MODULES)))
	deploy/dev/check-versions.sh $(MODULES)

## unit: go test -race over every module, on RAPPORT_TEST_DATABASE_URL or a throwaway cluster started (and stopped) here
unit:
	@if [ -n "$${RAPPORT_TEST_DATABASE_URL:-}" ]; then \
		go test -race -count=1 -timeout 20m github.com/rapportcrm/rapport/...; \
	else \
		url=$$(PG_FSYNC=off PG_SYNC_COMMIT=off deploy/dev/pg.sh start $(TEST_PG_DIR) $(TEST_PG_PORT)); \
		trap 'deploy/dev/pg.sh stop $(TEST_PG_DIR)' EXIT; \
		RAPPORT_TEST_DATABASE_URL=$$url go test -race -count=1 -timeout 20m github.com/rapportcrm/rapport/...; \
	fi

## bench: load the running suite (make run in another terminal) and a bare baseline; print RPS and latency
bench: build
	deploy/bench/run.sh

## bench-search: time every form of SearchCustomers over 1 M generated customers (seeded once, ≈ 2 min)
bench-search:
	url=$$(PG_FSYNC=off PG_SYNC_COMMIT=off deploy/dev/pg.sh start $(STATE)/searchbench-pg 55461); \
	go run ./services/customer/cmd/searchbench -db "$$url" $(SEARCHBENCH_FLAGS)

## bench-projection: apply generated events to the analytics read model; print events/s, apply latency and figure query times
bench-projection:
	url=$$(PG_FSYNC=off PG_SYNC_COMMIT=off deploy/dev/pg.sh start $(STATE)/projectbench-pg 55468); \
	go run ./services/analytics/cmd/projectbench -db "$$url" $(PROJECTBENCH_FLAGS)

## bench-sla: time the SLA watcher raising every breach among 1 M open tickets (seeded once by COPY, ≈ 1 min)
bench-sla:
	url=$$(PG_FSYNC=off PG_SYNC_COMMIT=off deploy/dev/pg.sh start $(STATE)/slabench-pg 55469); \
	go run ./services/ticket/cmd/slabench -db "$$url" $(SLABENCH_FLAGS)

## bench-insight: replay all of Online Retail into a fresh analytics database; time the rebuild, RFM/CLV and the 360 view (≈ 1½ min)
bench-insight:
	url=$$(PG_FSYNC=off PG_SYNC_COMMIT=off deploy/dev/pg.sh start $(STATE)/insightbench-pg 55465); \
	go run ./services/analytics/cmd/insightbench -db "$$url" -data $(DATA) $(INSIGHTBENCH_FLAGS)

## bench-lag: start a suite on its own cluster (port 55477, gRPC 19200+, edge 19206), offer 1 000 writes/s over customer, pipeline and ticket; print the analytics lag p50/p95/p99/max (LAGBENCH_FLAGS=-webhook adds a loopback webhook receiver of every event and its source commit → arrival lag)
bench-lag: build
	PG_FSYNC=off PG_SYNC_COMMIT=off go run ./deploy/dev/cmd/lagbench $(LAGBENCH_FLAGS)

## bench-partner: time partner statement computation for 1 000 partners (seeded once, ≈ 20 s)
bench-partner:
	url=$$(PG_FSYNC=off PG_SYNC_COMMIT=off deploy/dev/pg.sh start $(STATE)/partnerbench-pg 55463); \
	go run ./services/partner/cmd/partnerbench -db "$$url" $(PARTNERBENCH_FLAGS)

## bench-deals: boot the real suite on 1 M customers and 100 k open opportunities (seeded once, ≈ 15 min) and time CreateDealRegistration
bench-deals: build
	url=$$(PG_FSYNC=off PG_SYNC_COMMIT=off deploy/dev/pg.sh start $(STATE)/dealbench-pg 55472); \
	go run ./deploy/dev/cmd/dealbench -db "$$url" -state $(STATE)/dealbench -bin $(BIN) $(DEALBENCH_FLAGS)

clean:
	deploy/dev/pg.sh stop $(STATE)/dealbench-pg || true
	deploy/dev/pg.sh stop $(STATE)/insightbench-pg || true
	deploy/dev/pg.sh stop $(STATE)/slabench-pg || true
	deploy/dev/pg.sh stop $(STATE)/searchbench-pg || true
	deploy/dev/pg.sh stop $(STATE)/projectbench-pg || true
	deploy/dev/pg.sh stop $(STATE)/partnerbench-pg || true
	deploy/dev/pg.sh stop $(STATE)/lagbench/pg || true
	deploy/dev/pg.sh stop $(TEST_PG_DIR) || true
	deploy/dev/pg.sh stop $(STATE)/pg || true
	rm -rf $(BIN)
