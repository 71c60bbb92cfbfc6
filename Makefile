# canaryline's one task runner. `make demo` and `make test` each set themselves up on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
## Test processes (pytest-xdist): two keep both cores busy while the other waits on a gateway, a server or a
## browser; whole files go to one process, so a file's gateways and fixtures are started once.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: install demo test test-fast test-tools bench-tools lint fmt load bench bench-quick bench-frameworks serve clean fuzz

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

## The whole test suite. Uses $$REDIS_URL / $$CANARYLINE_TEST_POSTGRES_URL when set, else starts throwaway
## redis-server and PostgreSQL (initdb + pg_ctl) instances on free ports; installs the tools it needs first.
test: $(STAMP) test-tools
	@$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

## The pure and in-process tiers (tests/unit, tests/integration: real Redis, PostgreSQL and SQLite, the ASGI app
## in-process), without the gateway processes of tests/e2e: a few minutes instead of fifteen.
test-fast: $(STAMP) test-tools
	@$(BIN)/python -m pytest $(XDIST) tests/unit tests/integration $(PYTEST_ARGS)

## Debian packages the tests run for real (nothing is started here): redis-server, PostgreSQL's server
## binaries, promtool and prometheus, and chromium for the console's browser tests (Playwright drives it).
test-tools:
	@.ci/ensure-packages redis-server=redis-server initdb=postgresql promtool=prometheus prometheus=prometheus \
		chromium=chromium

## schemathesis against a real gateway with 1,000 generated cases per operation of its OpenAPI document
## (the suite runs 100); FUZZ_EXAMPLES=N for another count.
FUZZ_EXAMPLES ?= 1000
fuzz: $(STAMP)
	@CANARYLINE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/e2e/test_openapi_fuzz.py --timeout 1800 $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check service registry_client tests load_tests examples
	@$(BIN)/ruff format --check service registry_client tests load_tests examples
	@$(BIN)/mypy
	@$(BIN)/lint-imports

fmt: $(STAMP)
	@$(BIN)/ruff format service registry_client tests load_tests examples
	@$(BIN)/ruff check --fix service registry_client tests load_tests examples

## Locust against a gateway it starts itself (bounded time); fails when any request failed.
load: $(STAMP)
	@$(BIN)/python -m load_tests.run_load

## Side-by-side benchmark: ratios against baselines in one run (BENCH_ARGS=--quick for ~2 minutes).
bench: $(STAMP) bench-tools
	@$(BIN)/python -m load_tests.bench $(BENCH_ARGS)

bench-quick: $(STAMP) bench-tools
	@$(BIN)/python -m load_tests.bench --quick

## The gateway vs MLServer's own XGBoost and LightGBM runtimes on the same model files (BENCH_ARGS=--quick).
bench-frameworks: $(STAMP) bench-tools
	@$(BIN)/python -m load_tests.bench.frameworks $(BENCH_ARGS)

## Debian packages the benchmark runs: wrk (the closed-loop load generator) and redis-server.
bench-tools:
	@.ci/ensure-packages wrk=wrk redis-server=redis-server

## The gateway on the demo's state (.demo/env: its home and tokens) when `make demo` has run, else on yours.
serve: $(STAMP)
	@if [ -f .demo/env ]; then . ./.demo/env; fi; exec $(BIN)/canaryline serve

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache build *.egg-info
