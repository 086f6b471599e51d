# The two commands: `make run` (set up and serve a library) and `make test` (set up and test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_LIBRARY ?= data/demo-library
DEMO_COUNT ?= 120

.PHONY: setup run test lint typecheck bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Byte-compiled once here, so a command's start does not compile the sources again where the
# environment forbids writing .pyc files (PYTHONDONTWRITEBYTECODE); only changed files recompile.
setup: $(STAMP)
	@$(BIN)/python -m compileall -q src

run: setup
	@if [ -z "$$MEDIASHELF_LIBRARY" ]; then \
	  if [ ! -d "$(DEMO_LIBRARY)" ]; then $(BIN)/mediashelf demo "$(DEMO_LIBRARY)" --count $(DEMO_COUNT); fi; \
	  echo "No MEDIASHELF_LIBRARY set: serving the demo library in $(DEMO_LIBRARY)"; \
	  MEDIASHELF_LIBRARY="$(DEMO_LIBRARY)" $(BIN)/mediashelf serve; \
	else \
	  $(BIN)/mediashelf serve; \
	fi

lint: setup
	$(BIN)/ruff check src tests bench docs
	$(BIN)/ruff format --check src tests bench docs
	PYTHONPATH=src $(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -n auto  # one test process per core: most tests wait on I/O

bench: setup
	$(BIN)/python bench/probe.py
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/realistic.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/scaleout.py

screenshots: setup
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
