# Two commands from a fresh clone: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test report lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/snakemake --profile profiles/demo
	$(BIN)/snakemake --profile profiles/demo --report results/report.html
	@echo ""
	@echo "Demo finished. Results: $(CURDIR)/results/  Report: $(CURDIR)/results/report.html"

report: $(VENV)/.installed
	$(BIN)/snakemake --report results/report.html

test: $(VENV)/.installed-test
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake
