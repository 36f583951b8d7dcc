# Two commands set everything up on a fresh machine:
#   make demo   runs the example DAGs end to end against the bundled vendor simulators
#   make test   runs the test suite (what CI runs)
# and what CI runs besides (.ci/run):
#   make test-py3.11 / test-py3.13   the fast tests and the example DAGs on another Python
#   make test-oldest                 the fast tests and the example DAGs on the oldest supported Airflow
#   make wheel-check                 the built wheel installed as users install it, then used
# and for working on it:
#   make test-fast                   the tests without the slow end-to-end ones
#   make lint                        ruff, ruff format --check and mypy --strict
#   make docs                        the docs site into docs/_build/html (warnings are errors)
#   make bench / bench-upload        the triggerer and upload benchmarks (minutes)
#   make bench-triggerer             the real airflow triggerer on PostgreSQL vs the simulated runner (12 min)
#   make clean                       remove the venvs and the demo's Airflow home
#   make help                        this list
# Interpreters are found by version (dev/find-python: pyenv, then pythonX.Y on PATH).
NEWEST_AIRFLOW := 3.3.2
# the full suite runs on Python 3.12, the default of Airflow's official image; python3 where it is missing
PYTHON ?= $(shell dev/find-python 3.12 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the oldest Airflow release this package supports, in a second venv
OLDEST_AIRFLOW := 3.1.8
OLDEST_PYTHON ?= $(shell dev/find-python 3.11)
OLDEST_VENV ?= .venv-oldest
OLDEST_BIN := $(OLDEST_VENV)/bin
OLDEST_STAMP := $(OLDEST_VENV)/.installed
# without Airflow's constraints file pip picks releases newer than 3.1.8 / 3.2.2 work with: these
# break Airflow's own dag.test() there (docs/installation.md "Constraints and pins")
OLDEST_PINS := "fastapi<0.137" "cadwyn<8" "svcs<26"
LINT_PATHS := airflow_import_status tests example_dags dev $(wildcard benchmarks)
# a venv made by another interpreter than the one asked for is made again
SAME_PYTHON = test -x $(1)/bin/python && [ "$$($(1)/bin/python -c 'import sys; print(sys.version_info[:2])')" = "$$($(2) -c 'import sys; print(sys.version_info[:2])')" ]

.PHONY: demo test test-fast test-oldest wheel-check lint bench bench-upload bench-triggerer clean docs help

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "no python3 found: set PYTHON=/path/to/python3.12" >&2; exit 1; }
	$(call SAME_PYTHON,$(VENV),$(PYTHON)) || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "apache-airflow==$(NEWEST_AIRFLOW)" -e ".[test,docs]"
	touch $(STAMP)

$(OLDEST_STAMP): pyproject.toml
	@test -n "$(OLDEST_PYTHON)" || exit 1
	$(call SAME_PYTHON,$(OLDEST_VENV),$(OLDEST_PYTHON)) || { rm -rf $(OLDEST_VENV) && $(OLDEST_PYTHON) -m venv $(OLDEST_VENV); }
	$(OLDEST_BIN)/pip install --quiet --upgrade pip
	$(OLDEST_BIN)/pip install --quiet "apache-airflow==$(OLDEST_AIRFLOW)" $(OLDEST_PINS) -e ".[test]"
	touch $(OLDEST_STAMP)

# the demo needs the package and Airflow only (the [demo] extra), not the test extra's browsers and databases
DEMO_VENV ?= .venv-demo
$(DEMO_VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "no python3 found: set PYTHON=/path/to/python3.12" >&2; exit 1; }
	$(call SAME_PYTHON,$(DEMO_VENV),$(PYTHON)) || { rm -rf $(DEMO_VENV) && $(PYTHON) -m venv $(DEMO_VENV); }
	$(DEMO_VENV)/bin/pip install --quiet --upgrade pip
	$(DEMO_VENV)/bin/pip install --quiet "apache-airflow==$(NEWEST_AIRFLOW)" -e ".[demo]"
	touch $@

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/python -m airflow_import_status.demo

help:
	@sed -n 's/^#   make /make /p' Makefile

# the docs site; -W: a warning (a broken cross-reference, an unknown directive, a missing include) fails it
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

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

# the newest Airflow on another Python (3.11, 3.13): the fast tests and the example DAGs, in .venv-pyX.Y
.venv-py%/.installed: pyproject.toml
	py=$$(dev/find-python $*) && { $(call SAME_PYTHON,.venv-py$*,$$py) || { rm -rf .venv-py$* && $$py -m venv .venv-py$*; }; }
	.venv-py$*/bin/pip install --quiet --upgrade pip
	.venv-py$*/bin/pip install --quiet "apache-airflow==$(NEWEST_AIRFLOW)" -e ".[test]"
	touch $@

.PRECIOUS: .venv-py%/.installed
test-py%: .venv-py%/.installed
	.venv-py$*/bin/python -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)
	.venv-py$*/bin/python -m pytest -q -p no:cacheprovider tests/test_example_dags.py $(PYTEST_ARGS)

# builds the sdist and the wheel, twine-checks them, installs the wheel outside the checkout and uses it
wheel-check:
	dev/wheel-check "$$(dev/find-python 3.12)" $(NEWEST_AIRFLOW)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/triggerer_capacity.py $(BENCH_ARGS)

bench-upload: $(STAMP)
	$(BIN)/python benchmarks/upload.py $(BENCH_ARGS)

# needs PostgreSQL (Debian's postgresql package, as the distributed test); --sizes 100 --window 30 for a quick look
bench-triggerer: $(STAMP)
	$(BIN)/python benchmarks/triggerer_real.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(OLDEST_VENV) $(DEMO_VENV) .venv-py* .demo docs/_build
