# All set-up happens here: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo
SITE ?= $(VENV)/docs-site

.PHONY: demo test lint docs docs-serve venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/nanodet demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/scripts
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(SITE)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/scripts
	$(BIN)/lint-imports

# Regenerate the generated docs pages (config and command reference, the official checkpoint
# table, the benchmarks page and the README's headline block from benchmarks/results), then
# build the site into site/ (open site/index.html).
docs: $(STAMP)
	$(BIN)/python docs/scripts/gen_reference.py
	$(BIN)/python docs/scripts/gen_weights_table.py
	$(BIN)/python benchmarks/report.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

clean:
	rm -rf $(VENV) build dist site src/*.egg-info
