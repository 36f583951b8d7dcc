# Two commands set everything up on a fresh machine:
#   make demo   runs the example DAGs end to end against the bundled vendor simulators
#   make test   runs the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := airflow_import_status tests example_dags dev $(wildcard benchmarks)

.PHONY: demo test test-fast lint bench bench-upload clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "apache-airflow==3.3.2" -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m airflow_import_status.demo

test: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/triggerer_capacity.py $(BENCH_ARGS)

bench-upload: $(STAMP)
	$(BIN)/python benchmarks/upload.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .demo
