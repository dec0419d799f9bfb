# linkgraph — `make demo` and `make test` are all a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test test-unit lint format clean services services-down

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
test: venv services
	$(BIN)/pytest

## services: start Redis and a Kafka broker on loopback (idempotent); stop with services-down
services:
	deploy/local/up > /dev/null

services-down:
	deploy/local/down

test-unit: venv
	$(BIN)/pytest tests/unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy linkgraph linkindex crawler pipelines consumers

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .run build *.egg-info .pytest_cache .mypy_cache .ruff_cache
