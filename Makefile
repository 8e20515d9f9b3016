# Quick start: `make demo` (offline demo workflow) and `make test` (test suite); both set themselves up.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup setup-gpu demo study test lint clean-demo

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# On a machine with an NVIDIA GPU: TensorFlow with its CUDA libraries (pip's `and-cuda` extra) in place
# of the CPU-only wheel, at the same pinned version. The study then finds the GPU; see README.
setup-gpu: setup
	$(BIN)/pip install --quiet 'tensorflow[and-cuda]==$(shell $(BIN)/python -c "import importlib.metadata as m; print(m.version('tensorflow'))")'

demo: setup
	$(BIN)/snakemake --cores 2 --configfile config/demo.yaml

study: setup
	$(BIN)/snakemake --cores 4 --resources gpu=1

# pytest-xdist workers: one per core, two to four. The local demo run, the SLURM cluster's run and the
# other tests go on side by side (tests/conftest.py keeps the tests of each shared run on one worker);
# two workers help even on one core, since both runs mostly wait.
# pytest exits 5 when it collects no test; that is not a failure of the project.
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 2 ? 2 : n > 4 ? 4 : n )))
test: setup
	$(BIN)/pytest -n $(TEST_WORKERS) || [ $$? -eq 5 ]

lint: setup
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint --configfile config/demo.yaml
