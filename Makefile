# CreditJambo developer tasks; `make` lists them.
#
# Without DATABASE_URL, `make run` / `make migrate` use a project-local PostgreSQL
# cluster in .data/ (scripts/devdb.sh) on 127.0.0.1:$(DEV_PG_PORT), default 54329.
# `make test` uses TEST_DATABASE_URL, else a PostgreSQL on 127.0.0.1:5432 that lets
# user postgres in without a password, else that local cluster.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# go on PATH, else the usual install location.
ifeq ($(origin GO),undefined)
GO := $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
endif
# gofmt of the toolchain go selects (evaluated only by `make fmt`).
GOFMT = $(shell f="$$($(GO) env GOROOT)/bin/gofmt"; [ -x "$$f" ] && echo "$$f" || echo gofmt)

BIN       := bin/creditjambo
DEVDB     := scripts/devdb.sh
HTTP_ADDR ?= 127.0.0.1:8000
# Extra flags for go test, e.g. make test TESTFLAGS='-count=1 -run TestLedger'.
TESTFLAGS ?=

# Shell fragment: make DATABASE_URL point somewhere. The environment wins; then a
# DATABASE_URL line in .env (which the binary reads itself); else the local
# cluster, started (and created the first time) by scripts/devdb.sh.
USE_DEV_DB = \
	if [ -n "$${DATABASE_URL:-}" ]; then \
		echo "database: DATABASE_URL from the environment"; \
	elif grep -Eqs '^[[:space:]]*(export[[:space:]]+)?DATABASE_URL=' .env; then \
		echo "database: DATABASE_URL from .env"; \
	else \
		DATABASE_URL=$$($(DEVDB) start); export DATABASE_URL; \
		echo "database: $$DATABASE_URL (local cluster; make db-stop stops it)"; \
	fi

# Shell fragment: export TEST_DATABASE_URL (scripts/devdb.sh prints which one).
USE_TEST_DB = TEST_DATABASE_URL=$$($(DEVDB) test-url); export TEST_DATABASE_URL

.PHONY: help run build migrate test vet fmt bench bench-http db-start db-stop db-status clean

help: ## list the targets
	@echo "CreditJambo: make <target>"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "Variables: DATABASE_URL, TEST_DATABASE_URL, DEV_PG_PORT (local cluster port, 54329),"
	@echo "           HTTP_ADDR (make run, $(HTTP_ADDR)), TESTFLAGS (extra go test flags)"

# The binary is built, not `go run`: exec makes the server replace the shell, so
# Ctrl-C (SIGINT) reaches it directly and it shuts down cleanly while make waits.
run: build ## start the local database if needed, migrate, serve on 127.0.0.1:8000 (DEBUG=true, console email)
	@$(USE_DEV_DB); \
	export DEBUG=true EMAIL_BACKEND=console HTTP_ADDR='$(HTTP_ADDR)'; \
	./$(BIN) migrate; \
	echo "serving on http://$(HTTP_ADDR) (Ctrl-C stops)"; \
	exec ./$(BIN) serve

build: ## build bin/creditjambo
	$(GO) build -o $(BIN) ./cmd/creditjambo

migrate: build ## apply migrations (DATABASE_URL, else the local cluster)
	@$(USE_DEV_DB); ./$(BIN) migrate

test: vet ## go vet, then go test -race ./... (database: see the top of the Makefile)
	@$(USE_TEST_DB); $(GO) test -race $(TESTFLAGS) ./...

vet: ## go vet ./...
	$(GO) vet ./...

fmt: ## check formatting: list files gofmt would change, fail if any
	@files=$$(find . \( -path ./.git -o -path ./.data -o -path ./bin -o -name node_modules \) -prune \
		-o -type f -name '*.go' -print); \
	bad=$$(if [ -n "$$files" ]; then $(GOFMT) -l $$files; fi); \
	if [ -n "$$bad" ]; then echo "not gofmt-ed (fix with gofmt -w <file>):"; echo "$$bad"; exit 1; fi

bench: ## ledger benchmarks (go test -bench . -benchmem ./ledger/...)
	@$(USE_TEST_DB); $(GO) test -run '^$$' -bench . -benchmem ./ledger/...

# A fixed count per run (BENCH_HTTP_N deposits at each client count) bounds the time.
BENCH_HTTP_N ?= 3000
bench-http: ## deposits/s over HTTP at 1, 8, 32, 64 clients beside the raw-SQL baseline (docs/benchmarks.md)
	@$(USE_TEST_DB); $(GO) test -run '^$$' -bench 'BenchmarkHTTPDeposit$$' -benchtime $(BENCH_HTTP_N)x -timeout 20m ./api/

db-start: ## start the local PostgreSQL cluster (creating it the first time); prints its DATABASE_URL
	@$(DEVDB) start

db-stop: ## stop the local PostgreSQL cluster
	@$(DEVDB) stop

db-status: ## is the local PostgreSQL cluster running?
	@$(DEVDB) status || true

clean: ## remove build and test outputs (bin/, *.test, *.out, coverage files); keeps .data/
	rm -rf bin
	@find . \( -path ./.git -o -path ./.data \) -prune -o -type f \
		\( -name '*.test' -o -name '*.out' -o -name '*.coverprofile' -o -name 'coverage.*' \) \
		-print -exec rm -f {} +
