# Trench: `make up` runs the local stack, `make test` runs every check CI runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

TSX := node --import tsx
CLUSTER := $(TSX) hack/cluster.ts

.PHONY: help deps cluster-up cluster-down cluster-status kubeconfig cluster-build \
        lint format typecheck test test-unit test-integration bench-cluster kind-up kind-down up down

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: ## Install Debian packages and npm dependencies a fresh machine lacks
	@bash hack/install-deps.sh

up: cluster-up ## The main job: the local cluster with the Trench stack
	@echo "KUBECONFIG=$$($(CLUSTER) kubeconfig)"

down: cluster-down ## Stop everything `make up` started

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

lint: deps ## Lint and check formatting (biome)
	npx biome ci .

format: deps ## Format the sources
	npx biome check --write .

typecheck: deps ## Type-check everything (tsc, strict)
	npx tsc -p tsconfig.json

test-unit: deps ## Unit tests
	npx vitest run --config vitest.unit.config.ts

test-integration: deps cluster-build ## Integration tests on a real local control plane
	npx vitest run --config vitest.integration.config.ts

test: deps ## Everything CI checks: lint, types, unit and integration tests
	$(MAKE) lint typecheck
	$(MAKE) test-unit
	$(MAKE) test-integration

bench-cluster: deps cluster-build ## Warm start time and API write throughput of the local cluster
	$(TSX) bench/cluster.ts

kind-up: deps ## With Docker: create a kind cluster from manifests/kind/cluster.yaml
	@$(TSX) hack/kind.ts create

kind-down: ## With Docker: delete the kind cluster
	@$(TSX) hack/kind.ts delete
