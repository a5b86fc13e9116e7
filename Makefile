# Two commands from a fresh clone: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test report lint fmt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-lint: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[lint]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/snakemake --profile profiles/demo
	$(BIN)/snakemake --profile profiles/demo --report results/demo/report.html
	@echo ""
	@echo "Demo finished. Results: $(CURDIR)/results/demo/  Report: $(CURDIR)/results/demo/report.html"

report: $(VENV)/.installed
	$(BIN)/snakemake --report results/report.html

test: $(VENV)/.installed-test
	$(BIN)/pytest

# Shipped configurations: `snakemake --lint` runs once with each.
CONFIGS := config/config.yaml config/demo.yaml

lint: $(VENV)/.installed-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	@for config in $(CONFIGS); do \
	  echo "snakemake --lint --configfile $$config"; \
	  $(BIN)/snakemake --lint --configfile $$config || exit 1; \
	done

# Rewrites the files the lint gate checks: run it before committing.
fmt: $(VENV)/.installed-lint
	$(BIN)/ruff check --fix-only --quiet .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results .snakemake
