# canaryline's one task runner. `make demo` and `make test` each set themselves up on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install demo test lint fmt typecheck load bench bench-quick serve clean prometheus-tools

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## The main job, end to end, on the embedded SQLite store (state under .demo/, wiped first).
demo: $(STAMP)
	@rm -rf .demo
	@$(BIN)/python -m examples.demo

## The whole test suite: uses $$REDIS_URL when set, else starts a throwaway redis-server.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

## promtool and prometheus (Debian's `prometheus` package, no service started) for the observability tests.
prometheus-tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); policy=/usr/sbin/policy-rc.d; added=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' | $$sudo tee $$policy >/dev/null && $$sudo chmod +x $$policy && added=1; fi; \
	  echo "installing Debian's prometheus package (promtool, prometheus)"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  status=$$?; if [ -n "$$added" ]; then $$sudo rm -f $$policy; fi; exit $$status; }

lint: $(STAMP)
	@$(BIN)/ruff check service registry_client tests load_tests examples
	@$(BIN)/ruff format --check service registry_client tests load_tests examples
	@$(BIN)/mypy

fmt: $(STAMP)
	@$(BIN)/ruff format service registry_client tests load_tests examples
	@$(BIN)/ruff check --fix service registry_client tests load_tests examples

## Locust against a gateway it starts itself (bounded time); fails when any request failed.
load: $(STAMP)
	@$(BIN)/python -m load_tests.run_load

## Side-by-side benchmark: ratios against baselines in one run (BENCH_ARGS=--quick for ~2 minutes).
bench: $(STAMP)
	@$(BIN)/python -m load_tests.bench $(BENCH_ARGS)

bench-quick: $(STAMP)
	@$(BIN)/python -m load_tests.bench --quick

serve: $(STAMP)
	@$(BIN)/canaryline serve

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache build *.egg-info
