# imcloud — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
NPM ?= npm
VITEST := node_modules/.bin/vitest
RESULTS := .test-results

.PHONY: run run-dist test test-unit test-e2e test-integration test-chaos test-kubernetes test-node test-monitoring test-attack fuzz image infra typecheck check-deps lint format build bench bench-dist kind-e2e crd help clean
PROJECTS ?= unit e2e integration chaos kubernetes node monitoring attack

help:
	@echo "make run     start every role in one process (embedded mode) with the web chat page"
	@echo "make test    install, build and run every test suite (installs and builds the test servers once)"
	@echo "make run-dist  every role as its own process on real Redis, RabbitMQ, FerretDB and MinIO"
	@echo "make bench   benchmarks of the embedded mode (writes bench/results/)"
	@echo "make image   the imcloud image without Docker: dist/image/imcloud-<version>.oci.tar (TAGS=... for more tags)"

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

# The import rules of .dependency-cruiser.cjs (ADR 0026): no import circle; an adapter imports only
# its own backend's adapters; roles import ports, never an adapter or a client library.
# Formatting and lint (Biome, biome.jsonc): fails on an unformatted file or a lint error; `make format` fixes what it can.
lint: node_modules/.installed
	@echo "==> format and lint (biome ci)"
	@node_modules/.bin/biome ci --reporter=summary .

format: node_modules/.installed
	@node_modules/.bin/biome check --write .

check-deps: build
	@echo "==> dependency rules (dependency-cruiser, .dependency-cruiser.cjs)"
	@node_modules/.bin/depcruise --config .dependency-cruiser.cjs --output-type err protocol services operator sdk web test bench scripts monitoring

# Real servers for the integration, chaos and kubernetes suites: installed from Debian or built
# from the Go module proxy once, cached in ~/.cache/imcloud (first run ~15 min on 2 cores).
infra: node_modules/.installed
	@echo "==> test servers (cached in $${IMCLOUD_CACHE:-~/.cache/imcloud})"
	@node_modules/.bin/tsx test/infra/cli.ts ensure

test: typecheck check-deps lint infra
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@status=0; \
	for project in $(PROJECTS); do \
	  echo "==> vitest project $$project"; \
	  $(VITEST) run --project $$project --reporter=default --reporter=json --outputFile.json=$(RESULTS)/$$project.json || status=1; \
	done; \
	node scripts/test-summary.mjs $(RESULTS); \
	exit $$status

test-unit: build
	$(VITEST) run --project unit

test-e2e: build
	$(VITEST) run --project e2e

test-integration: build infra
	$(VITEST) run --project integration

test-chaos: build infra
	$(VITEST) run --project chaos

test-kubernetes: build infra
	$(VITEST) run --project kubernetes

# The whole platform on a real Kubernetes node (root; test/infra/real-node.ts): the image built
# without Docker, helm install, an ImCluster, chats through its Services from inside the node.
test-node: build infra
	$(VITEST) run --project node

# The alert rules (monitoring/alerts, docs/slo.md): promtool check rules on the rendered
# PrometheusRule and the promtool unit tests of every alert.
test-monitoring: build infra
	$(VITEST) run --project monitoring

# The attack suite (test/attack): every attack against the embedded mode and the multi-process
# layout, and the property-based fuzzers for a bounded time; ends with
# `attacks: tried=N held=N crashed=N leaked=N`.
test-attack: build infra
	$(VITEST) run --project attack

# The fuzzers of test/attack/fuzz for longer: FUZZ_RUNS runs per property (or FUZZ_SECONDS each).
FUZZ_RUNS ?= 20000
FUZZ_SECONDS ?= 120
fuzz: build
	IMCLOUD_ATTACK_TARGETS=none IMCLOUD_FUZZ_RUNS=$(FUZZ_RUNS) IMCLOUD_FUZZ_SECONDS=$(FUZZ_SECONDS) $(VITEST) run --project attack test/attack/fuzz

run-dist: build infra
	@node_modules/.bin/tsx scripts/run-dist.ts

# The benchmarks run on the Node release the image ships (ADR 0016), fetched into the cache on
# first use: BENCH_NODE=system runs them on this machine's node, BENCH_NODE=x.y.z on that release.
BENCH_NODE ?= image
bench_node = set -e; if [ "$(BENCH_NODE)" != system ]; then \
	dir=$$(node_modules/.bin/tsx test/infra/cli.ts node-bin $(filter-out image,$(BENCH_NODE))); export PATH="$$dir:$$PATH"; fi; \
	echo "bench: on node $$(node --version)";

# Waits (up to 5 min) for the machine to be quiet before each run; figures in bench/results/.
bench: build
	@$(bench_node) node_modules/.bin/tsx bench/run.ts --wait-quiet 300

# Needs Docker, kind, kubectl and helm: cluster, image, chart, ImCluster, SDK chat smoke test,
# teardown (KEEP_CLUSTER=1 keeps the cluster). Our CI machines have no Docker engine.
kind-e2e: build
	hack/kind/e2e.sh

# The imcloud image without Docker (ADR 0033): the Dockerfile's runtime stage assembled by
# scripts/build-image.ts as an OCI layout tar, dist/image/imcloud-<version>.oci.tar, for
# `ctr -n k8s.io images import`. TAGS="0.1.1-canary" adds more tags of the same build (gray release).
TAGS ?=
image: build
	@node_modules/.bin/tsx scripts/build-image.ts $(foreach t,$(TAGS),--tag $(t))

# Regenerates crds/imcluster.yaml and charts/imcloud/crds/imcluster.yaml from operator/api/imcluster.ts.
crd: node_modules/.installed
	node_modules/.bin/tsx operator/api/generate.ts

# The distributed mode on real servers: roles as processes; figures in bench/results/dist-chat.json,
# dist-group.json and dist-files.json.
bench-dist: build infra
	@$(bench_node) node_modules/.bin/tsx bench/dist-chat.ts
	@$(bench_node) node_modules/.bin/tsx bench/group-fanout.ts --dist --members 1000 --phases saturation --no-build --out dist-group
	@$(bench_node) node_modules/.bin/tsx bench/files.ts --dist --no-build --out dist-files

clean:
	rm -rf dist protocol/gen $(RESULTS)
