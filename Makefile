# Trench: `make up` runs the local stack, `make test` runs every check CI runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

TSX := node --import tsx
CLUSTER := $(TSX) hack/cluster.ts

.PHONY: help deps cluster-up cluster-down cluster-status kubeconfig cluster-build \
        lint format typecheck test test-unit test-integration bench-cluster kind-up kind-down up down run synth synth-check render deploy readme readme-check image-check bench-render bench-scale bench-redis-lookups \
        bench-leader bench-restart bench-scaling bench-backup bench-backup-operator bench-rollout install-plugin

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: ## Install Debian packages and npm dependencies a fresh machine lacks
	@bash hack/install-deps.sh

up: deps cluster-build ## The main job: local cluster, CRDs, operator, dist/ applied, Trenches Ready
	@$(TSX) hack/stack.ts up

down: ## Stop everything `make up` started (operator and cluster, by pid)
	@$(TSX) hack/stack.ts down

run: deps ## Run the operator in the foreground against the current kubeconfig
	TRENCH_LEADER_ELECTION=$${TRENCH_LEADER_ELECTION:-false} $(TSX) operator/main.ts

cluster-build: deps ## Build (or find in the cache) the control-plane binaries
	@$(CLUSTER) build

cluster-up: deps ## Start the local control plane (etcd, kube-apiserver, controllers, kwok nodes)
	@$(CLUSTER) up

cluster-down: ## Stop the local control plane and remove its state
	@$(CLUSTER) down

cluster-status: ## Show the local control plane's processes and readiness
	@$(CLUSTER) status

kubeconfig: ## Print the local cluster's kubeconfig path (use with make -s)
	@$(CLUSTER) kubeconfig

ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.7

# actionlint checks the kind workflow, which cannot run here (no Docker): at least its syntax,
# expressions and action inputs are checked. Built by Go (cached), like the control plane.
lint: deps ## Lint and check formatting (biome), and the GitHub workflows (actionlint)
	npx biome ci .
	@if command -v go >/dev/null; then go run $(ACTIONLINT) -no-color; else echo "actionlint skipped: no Go on PATH" >&2; fi

format: deps ## Format the sources
	npx biome check --write .

typecheck: deps ## Type-check everything (tsc, strict)
	npx tsc -p tsconfig.json

# With CI set (CI runs `make test` with CI=true) vitest writes no snapshot: a missing .snap file
# fails the run instead of being recorded (checked by deleting one and running CI=true make test-unit).
test-unit: deps ## Unit tests
	npx vitest run --config vitest.unit.config.ts

# With TRENCH_TEST_KUBECONFIG the tests use that cluster, so nothing needs building.
test-integration: deps $(if $(TRENCH_TEST_KUBECONFIG),,cluster-build) ## Integration tests on a real local control plane
	npx vitest run --config vitest.integration.config.ts

test: deps ## Everything CI checks: lint, types, generated files, unit and integration tests
	$(MAKE) lint typecheck synth-check readme-check image-check
	$(MAKE) test-unit
	$(MAKE) test-integration

KUBECTL ?= kubectl
README_GEN := npx readme-generator
CRDS := crd/trenches.playtrenches.xyz crd/trenchbackups.playtrenches.xyz crd/trenchrestores.playtrenches.xyz

synth: deps ## Write dist/, crds/ and the Argo CD health patch from values.yaml, the API schemas and the Lua checks
	$(TSX) charts/main.ts

synth-check: deps ## Fail when dist/, crds/ or the Argo CD health patch differ from a fresh synth
	$(TSX) charts/main.ts --check

render: deps ## Print what the operator would create: make render FILE=trench.yaml
	@test -n "$(FILE)" || { echo "usage: make render FILE=trench.yaml" >&2; exit 2; }
	@$(TSX) charts/render.ts $(FILE)

deploy: ## Apply dist/ to the current cluster: CRDs, wait until Established, then the rest
	$(KUBECTL) apply --server-side --field-manager=trench-deploy --force-conflicts -f dist/0000-crds.k8s.yaml
	$(KUBECTL) wait --for=condition=Established --timeout=60s $(CRDS)
	$(KUBECTL) apply --server-side --field-manager=trench-deploy --force-conflicts -f dist/

readme: deps ## Regenerate the README's Parameters table from values.yaml
	$(README_GEN) -v values.yaml -r README.md

readme-check: deps ## Fail when the README's Parameters table is stale
	@tmp=$$(mktemp -d) && cp README.md $$tmp/README.md && $(README_GEN) -v values.yaml -r $$tmp/README.md >/dev/null && diff -u README.md $$tmp/README.md; rc=$$?; rm -rf $$tmp; exit $$rc

image-check: deps ## Compile the image's entry point as the Dockerfile does and start it (no Docker needed)
	rm -rf build && npx tsc -p tsconfig.build.json
	@out=$$(TRENCH_WORKERS=0 node build/operator/main.js 2>&1 || true); \
	  echo "$$out" | grep -q 'TRENCH_WORKERS must be an integer >= 1' || { echo "build/operator/main.js did not start: $$out" >&2; exit 1; }
	@echo "build/operator/main.js compiles and starts"

bench-render: deps ## Render time per Trench
	$(TSX) bench/render.ts

# ARGS passes options on, e.g. make bench-scale ARGS='--sizes 500,1000 --runs 3'.
bench-scale: deps cluster-build ## Operator convergence, steady-state writes and RSS at 100/500/1000 Trenches
	$(TSX) bench/scale.ts --compiled $(ARGS)

bench-leader: deps cluster-build ## Leader handover times: crash and release, electors and operator processes
	$(TSX) bench/leader.ts $(ARGS)

bench-restart: deps cluster-build ## Operator restart to caches synced (/readyz) with 1000 converged Trenches
	$(TSX) bench/restart.ts $(ARGS)

bench-scaling: deps cluster-build ## Queue backlog to worker replicas at 100 and 500 Trenches, on real Redis
	$(TSX) bench/scaling.ts $(ARGS)

bench-cluster: deps cluster-build ## Warm start time and API write throughput of the local cluster
	$(TSX) bench/cluster.ts

bench-backup: deps ## Backup, drill and restore of a few hundred MB with the Job scripts, against bare pg_dump/pg_restore
	$(TSX) bench/backup.ts $(ARGS)

bench-backup-operator: deps cluster-build ## The operator's own time in a backup's life (created to Job, Job done to Completed), idle writes
	$(TSX) bench/backup-operator.ts $(ARGS)

bench-rollout: deps cluster-build ## Canary abort latency from a failing measurement, promotion per step, 100 Trenches releasing at once
	$(TSX) bench/rollout.ts $(ARGS)

bench-redis-lookups: deps ## Heap of 1000 scaler Redis clients whose names do not resolve: ioredis' own lookups against the bounded ones
	$(TSX) bench/redis-lookups.ts $(ARGS)

# kubectl runs any executable named kubectl-<verb> on PATH: the link points into this checkout,
# so the plugin always runs the code (and node_modules) checked out here.
PLUGIN_DIR ?= $(or $(PREFIX),/usr/local)/bin

install-plugin: deps ## Link operator/cli/kubectl-trench into /usr/local/bin (or PLUGIN_DIR=dir, PREFIX=dir)
	@mkdir -p "$(PLUGIN_DIR)"
	ln -sfn "$(CURDIR)/operator/cli/kubectl-trench" "$(PLUGIN_DIR)/kubectl-trench"
	@echo "kubectl trench: run 'kubectl plugin list' to check that $(PLUGIN_DIR) is on PATH"

kind-up: deps ## With Docker: create a kind cluster from manifests/kind/cluster.yaml
	@$(TSX) hack/kind.ts create

kind-down: ## With Docker: delete the kind cluster
	@$(TSX) hack/kind.ts delete
