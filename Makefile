SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
COMPOSE ?= docker compose
WORKERS ?= 2

##@ Help
.PHONY: help
help: ## List the targets, one line each
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)}' $(MAKEFILE_LIST)

##@ Native (no Docker)
$(BIN)/.installed: server/requirements.txt server/requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --requirement server/requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(BIN)/.installed ## Create .venv with the pinned dependencies

.PHONY: dev
dev: venv ## Run web, worker, beat and Flower natively on SQLite and a filesystem broker
	@mkdir -p server/var
	export PATH="$(abspath $(BIN)):$$PATH" && cd server && set -a && source ../dev.env && set +a && \
		python manage.py migrate --noinput && \
		python manage.py seed_cities && \
		exec honcho --procfile ../Procfile --app-root . start

.PHONY: lint
lint: venv ## Lint with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: format
format: venv ## Format with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: test
test: lint test-fast test-stack ## Run every tier: lint, the fast tier, the Compose tier

.PHONY: test-fast
test-fast: venv ## Fast tier: real PostgreSQL, RabbitMQ and a Celery worker on this machine
	$(BIN)/pytest --ds=tests.fast.settings tests/fast

.PHONY: lock
lock: ## Re-resolve server/requirements.txt from server/requirements.in
	rm -rf build/lock && $(PYTHON) -m venv build/lock
	build/lock/bin/pip install --quiet --requirement server/requirements.in
	{ echo "# Pinned lock of requirements.in (regenerate: make lock). Installed by the image and by make dev/test."; \
	  build/lock/bin/pip freeze; } > server/requirements.txt
