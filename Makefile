# linkgraph — `make demo` and `make test` are all a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test test-unit fuzz lint format clean services services-down browser bench \
        bench-query

# The virtualenv is rebuilt when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## demo: serve a small web on loopback, crawl it into the embedded index, ask who links to one site
demo: venv
	$(BIN)/python -m linkgraph.demo

## test: the whole suite; starts Redis and Kafka on loopback first (deploy/local/up)
test: venv services browser
	$(BIN)/pytest

## bench: every benchmark beside its stock baseline; prints the table and rewrites README's
bench: venv services
	$(BIN)/python -m bench run

## browser: Debian's chromium for the web page tests (installed when missing; needs root)
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	  >/dev/null; } || echo "make: could not install Debian's chromium; the web page tests will fail and say so"

## services: start Redis and a Kafka broker on loopback (idempotent); stop with services-down
services:
	deploy/local/up > /dev/null

services-down:
	deploy/local/down

test-unit: venv
	$(BIN)/pytest tests/unit

## fuzz: long fuzzing campaigns over extraction, URL normalization and message decoding
FUZZ_EXAMPLES ?= 20000
fuzz: venv
	LINKGRAPH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/unit/test_fuzz.py -p no:cacheprovider

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy linkcore crawler linkindex pipelines consumers linkgraph bench
	$(BIN)/lint-imports

## bench-query: generate a power-law link graph of EDGES edges (once per size) and time
## the queries through `linkgraph serve`; prints the README's benchmark table
EDGES     ?= 100000000
BENCH_DIR ?= .bench/query-$(EDGES)
bench-query: venv
	$(BIN)/python -m bench.query generate --data-dir $(BENCH_DIR) --edges $(EDGES)
	$(BIN)/python -m bench.query run --data-dir $(BENCH_DIR)

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .run build *.egg-info .pytest_cache .mypy_cache .ruff_cache
