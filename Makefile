# linkgraph — `make demo` and `make test` are all a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test test-unit lint format clean

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

## test: the whole suite (unit, then integration against real local services)
test: venv
	$(BIN)/pytest

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
