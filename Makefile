# Two commands set everything up on a fresh machine:
#   make demo   runs the example DAGs end to end against the bundled vendor simulators
#   make test   runs the test suite (what CI runs)
#   make test-oldest   the fast tests and the example DAGs on the oldest supported Airflow (CI too)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the oldest Airflow release this package supports, in a second venv
OLDEST_AIRFLOW := 3.1.8
OLDEST_VENV ?= .venv-oldest
OLDEST_BIN := $(OLDEST_VENV)/bin
OLDEST_STAMP := $(OLDEST_VENV)/.installed
# without Airflow's constraints file pip picks releases newer than 3.1.8 / 3.2.2 work with: these
# break Airflow's own dag.test() there (README "Supported Airflow releases")
OLDEST_PINS := "fastapi<0.137" "cadwyn<8" "svcs<26"
LINT_PATHS := airflow_import_status tests example_dags dev $(wildcard benchmarks)

.PHONY: demo test test-fast test-oldest lint bench bench-upload clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "apache-airflow==3.3.2" -e ".[test]"
	touch $(STAMP)

$(OLDEST_STAMP): pyproject.toml
	test -x $(OLDEST_BIN)/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_BIN)/pip install --quiet --upgrade pip
	$(OLDEST_BIN)/pip install --quiet "apache-airflow==$(OLDEST_AIRFLOW)" $(OLDEST_PINS) -e ".[test]"
	touch $(OLDEST_STAMP)

demo: $(STAMP)
	$(BIN)/python -m airflow_import_status.demo

test: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# lint and mypy run once, on the newest release (make test); this is the same code on the oldest
test-oldest: $(OLDEST_STAMP)
	$(OLDEST_BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)
	$(OLDEST_BIN)/python -m pytest -q -p no:cacheprovider tests/test_example_dags.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/triggerer_capacity.py $(BENCH_ARGS)

bench-upload: $(STAMP)
	$(BIN)/python benchmarks/upload.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OLDEST_VENV) .demo
