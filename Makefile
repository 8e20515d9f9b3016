# Quick start: `make demo` (offline demo workflow) and `make test` (test suite); both set themselves up.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup demo study test lint clean-demo

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/snakemake --cores 2 --configfile config/demo.yaml

study: setup
	$(BIN)/snakemake --cores 4 --resources gpu=1

# One pytest-xdist worker per core, at most four: the local demo run, the SLURM cluster's run and the
# other tests go on side by side (tests/conftest.py keeps the tests of each shared run on one worker).
# pytest exits 5 when it collects no test; that is not a failure of the project.
TEST_WORKERS ?= auto
test: setup
	$(BIN)/pytest -n $(TEST_WORKERS) --maxprocesses 4 || [ $$? -eq 5 ]

lint: setup
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint --configfile config/demo.yaml
