# Intuitivus Flow Studio. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests run in parallel (pytest-xdist), one process per core; each test file stays on one worker
# so its module fixtures (servers, browsers) start once. `make test PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= auto
# Examples per operation, mode and credential for `make fuzz` (`make test` uses the quick default).
FUZZ_EXAMPLES ?= 100
# The product's critical areas (payments, export/import, campaign automation, agent
# communication) must stay at >= 90 % branch coverage; auth and tenancy code at >= 95 %.
CRITICAL := */intuitivus_flow/billing/*,*/intuitivus_flow/dataport/*,*/intuitivus_flow/campaigns/*,*/intuitivus_flow/conversations/*,*/intuitivus_flow/agents/*,*/intuitivus_flow/llm/*
AUTH_TENANCY := */intuitivus_flow/auth/*,*/intuitivus_flow/apikeys/*,*/intuitivus_flow/users/*,*/intuitivus_flow/workspaces/*,*/intuitivus_flow/kit/repository.py,*/intuitivus_flow/kit/security.py

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: $(VENV)/.installed ## Create .venv and install the package

.PHONY: run
run: $(VENV)/.installed ## Serve on http://127.0.0.1:8000 (SQLite in ./var, migrated, demo login on first start)
	$(BIN)/intuitivus-flow serve --host $(HOST) --port $(PORT)

.PHONY: test
test: $(VENV)/.installed-dev ## Run the test suite (SQLite + PostgreSQL + Redis) with coverage
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 --cov --cov-report=term:skip-covered $(PYTEST_ARGS)
	$(BIN)/coverage report --include='$(AUTH_TENANCY)' --fail-under=95 --skip-covered
	$(BIN)/coverage report --include='$(CRITICAL)' --fail-under=90 --skip-covered

.PHONY: fuzz
fuzz: $(VENV)/.installed-dev ## API fuzzing with many examples per operation (FUZZ_EXAMPLES=100); `make test` runs a quick pass
	FLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -m fuzz --timeout=3600 $(PYTEST_ARGS) tests/fuzz

.PHONY: contract
contract: $(VENV)/.installed-dev ## The suite with every API response held to the statuses its operation documents
	FLOW_CONTRACT_CHECK=1 $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Locust and the report's charts only: `make loadtest` works without the dev tools.
$(VENV)/.installed-loadtest: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[loadtest]'
	@touch $@ $(VENV)/.installed

.PHONY: loadtest
loadtest: $(VENV)/.installed-loadtest ## The plan's load tests (docs/loadtests.md): [URL=http://...] [ARGS="--quick" or "--profile headline --workers 2 --database postgresql://..."]
	$(BIN)/python -m loadtests $(if $(URL),--url $(URL)) $(ARGS)

# Lighthouse CI (@lhci/cli, pinned in lighthouse/package-lock.json) from the npm registry.
lighthouse/node_modules/.installed: lighthouse/package-lock.json
	npm ci --prefix lighthouse --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: lighthouse
lighthouse: $(VENV)/.installed lighthouse/node_modules/.installed ## Lighthouse on every page, signed in, desktop and mobile, median of 3 runs, each category >= 0.95 (docs/lighthouse.md) [ARGS="--quick"]
	$(BIN)/python lighthouse/run.py $(ARGS)

# The Chaos Toolkit CLI and its library only: `make chaos` works without the dev tools.
$(VENV)/.installed-chaos: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[chaos]'
	@touch $@ $(VENV)/.installed

.PHONY: chaos
chaos: $(VENV)/.installed-chaos ## The five chaos experiments on our own local processes, reports in var/chaos/ (docs/chaos.md) [ARGS="--quick" or "--only 1,3"]
	$(BIN)/python -m chaos $(ARGS)

.PHONY: lint
lint: $(VENV)/.installed-dev ## ruff (lint + format check), mypy, import layers, bandit and pip-audit (as CI runs them)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/bandit -c pyproject.toml -r src -q
	@# --strict: a dependency the vulnerability service cannot answer for fails the audit; without
	@# it, pip-audit skips that dependency and still reports "No known vulnerabilities found".
	$(BIN)/pip-audit --strict --skip-editable --progress-spinner off || { \
		echo "error: pip-audit failed: a vulnerable dependency, or its vulnerability service (PyPI's JSON API, https://pypi.org/pypi/NAME/VERSION/json) is unreachable from here"; \
		exit 1; }

.PHONY: image-check
image-check: $(VENV)/.installed-dev ## Dockerfile lint (hadolint) and the image's commands run from a wheel in a clean venv
	$(BIN)/hadolint Dockerfile
	$(BIN)/pytest tests/deploy/test_image.py $(PYTEST_ARGS)

.PHONY: format
format: $(VENV)/.installed-dev ## Format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: k8s-rules
k8s-rules: $(VENV)/.installed-dev ## Regenerate deploy/k8s/monitoring/prometheus-rule.yaml from `alerts export`
	$(BIN)/python deploy/k8s/monitoring/generate_prometheus_rule.py

.PHONY: k8s-check
k8s-check: $(VENV)/.installed-dev ## Render every kustomization and validate it (schemas, CRDs, our rules)
	$(BIN)/pytest -n 0 --no-cov tests/deploy/test_manifests.py $(PYTEST_ARGS)

.PHONY: migration
migration: $(VENV)/.installed-dev ## New Alembic migration from model changes: make migration m="message"
	$(BIN)/alembic revision --autogenerate -m "$(m)"

.PHONY: pitr-drill
pitr-drill: $(VENV)/.installed ## Point-in-time recovery drill with pgBackRest on a throw-away cluster
	$(BIN)/python deploy/pgbackrest/pitr_drill.py

.PHONY: backup-drill
backup-drill: $(VENV)/.installed ## Restore the newest backup into a scratch database and check it
	$(BIN)/intuitivus-flow backup drill

.PHONY: bench-restore
bench-restore: $(VENV)/.installed-dev ## Restore benchmark: 1 million events, pg_restore -j N vs one job
	$(BIN)/python benchmarks/restore.py $(BENCH_ARGS)

.PHONY: bench-analytics
bench-analytics: $(VENV)/.installed-dev ## Analytics store: 10 M events, ingestion, 5-step funnel, retention, paths vs pandas (--events N for a quick run)
	nice -n 10 $(BIN)/python benchmarks/analytics.py $(BENCH_ARGS)

.PHONY: bench-db-advisor
bench-db-advisor: $(VENV)/.installed-dev ## Index advisor: hot queries before/after its indexes on 1 M events/messages (throw-away cluster)
	PYTHONPATH=. $(BIN)/python benchmarks/db_advisor.py $(BENCH_ARGS)

.PHONY: bench-perf-analyze
bench-perf-analyze: $(VENV)/.installed-dev ## perf analyze: seconds per area vs the 10 s target; page weight and API CPU with/without compression
	$(BIN)/python benchmarks/perf_analyze.py $(BENCH_ARGS)

.PHONY: bench-cdnow
bench-cdnow: $(VENV)/.installed-dev ## CLV check: BG/NBD and Gamma-Gamma on CDNOW vs the published parameters (../shared)
	$(BIN)/python benchmarks/cdnow.py $(BENCH_ARGS)

.PHONY: bench-breach
bench-breach: $(VENV)/.installed-dev ## Breach forecasts: straight line vs seasonal model (synthetic families + NAB), ~30 min CPU
	$(BIN)/python benchmarks/breach.py $(ARGS)

.PHONY: bench
bench: $(VENV)/.installed-dev ## Run the benchmarks (prints tables)
	$(BIN)/python benchmarks/predictive_nab.py

.PHONY: bench-hot-path
bench-hot-path: $(VENV)/.installed-dev ## Authenticated request path vs a bare Starlette app (PostgreSQL, redis-server, wrk)
	$(BIN)/python benchmarks/hot_path.py $(ARGS)

.PHONY: clean
clean: ## Remove caches (keeps .venv and ./var)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
