# imcloud — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
NPM ?= npm
VITEST := node_modules/.bin/vitest
RESULTS := .test-results

.PHONY: run test test-unit test-e2e typecheck build bench help clean

help:
	@echo "make run     start every role in one process (embedded mode) with the web chat page"
	@echo "make test    install, build and run every test suite"
	@echo "make bench   benchmarks of the embedded mode (writes bench/results/)"

# Dependencies are installed once per package-lock.json; `npm ci` also builds (prepare).
node_modules/.installed: package.json package-lock.json
	@echo "==> npm ci (first run, or package-lock.json changed)"
	$(NPM) ci --no-audit --no-fund
	@touch $@

build: node_modules/.installed
	@node scripts/build.mjs

run: build
	@node bin/imcloud.js all

typecheck: build
	@echo "==> typecheck (tsc --noEmit)"
	@node_modules/.bin/tsc -p tsconfig.json

test: typecheck
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@status=0; \
	for project in unit e2e; do \
	  echo "==> vitest project $$project"; \
	  $(VITEST) run --project $$project --reporter=default --reporter=json --outputFile.json=$(RESULTS)/$$project.json || status=1; \
	done; \
	node scripts/test-summary.mjs $(RESULTS); \
	exit $$status

test-unit: build
	$(VITEST) run --project unit

test-e2e: build
	$(VITEST) run --project e2e

bench: build
	@npx tsx bench/run.ts

clean:
	rm -rf dist proto/gen $(RESULTS)
