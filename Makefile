# Two commands from a fresh clone: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test report lint fmt clean image config-docs

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
	@$(BIN)/sospine board results/demo
	@echo ""
	@echo "Demo finished. Results: $(CURDIR)/results/demo/  Report: $(CURDIR)/results/demo/report.html"

# The HTML report of a finished run: the demo's by default; PROFILE=... OUTPUT_DIR=... for another
# (e.g. make report PROFILE=profiles/slurm OUTPUT_DIR=results), or snakemake --report <dir>/report.html.
PROFILE ?= profiles/demo
OUTPUT_DIR ?= results/demo
report: $(VENV)/.installed
	$(BIN)/snakemake --profile $(PROFILE) --report $(OUTPUT_DIR)/report.html
	@echo "Report: $(CURDIR)/$(OUTPUT_DIR)/report.html"

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

# config/README.md's table of every key, from the schema's descriptions (a test keeps them in step)
config-docs: $(VENV)/.installed
	$(BIN)/python -c "from sospine.config import write_config_readme; write_config_readme()"

# The container image for AWS Batch's --container-image and other runtimes: sospine:latest.
# BASE: a Debian image with python3.11 (default python:3.11-slim-bookworm, pulled); when it cannot be
# pulled (no registry, as on our CI), a Debian bookworm base is built with mmdebstrap instead.
IMAGE ?= sospine:latest
BASE ?= docker.io/library/python:3.11-slim-bookworm
LOCAL_BASE := localhost/sospine-base:bookworm
# python, and the libraries OpenCV (imported by ultralytics) loads
BASE_PACKAGES := python3,python3-venv,ca-certificates,libgl1,libglib2.0-0,libxcb1
# podman as this kernel needs it: runc (crun fails on hybrid cgroups) and explicit rlimits
PODMAN_FLAGS := --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096

image: $(BIN)/python
	rm -rf build/wheels
	$(BIN)/pip wheel --quiet --wheel-dir build/wheels .
	@if podman image exists $(BASE) || podman pull -q $(BASE) >/dev/null 2>&1; then \
	  echo "base image: $(BASE)"; base=$(BASE); \
	else \
	  echo "cannot pull $(BASE): building a Debian bookworm base with mmdebstrap"; \
	  podman image exists $(LOCAL_BASE) || { \
	    mmdebstrap --quiet --variant=minbase --include=$(BASE_PACKAGES) bookworm build/base.tar \
	    && podman import build/base.tar $(LOCAL_BASE) && rm -f build/base.tar; } || exit 1; \
	  base=$(LOCAL_BASE); \
	fi; \
	deps=$$(ls build/wheels/*.whl | grep -v '/sospine-' | xargs sha256sum | sha256sum | cut -c1-64); \
	project=$$(sha256sum build/wheels/sospine-*.whl | cut -c1-64); \
	podman build $(PODMAN_FLAGS) --build-arg BASE=$$base --build-arg DEPENDENCIES_SHA256=$$deps \
	  --build-arg SOSPINE_SHA256=$$project -t $(IMAGE) -f Containerfile .
	@echo "built $(IMAGE); run the workflow in it on this checkout with:"
	@echo "  podman run --rm $(PODMAN_FLAGS) -v \"\$$PWD\":/work $(IMAGE) snakemake --cores 2 --profile profiles/demo"

clean:
	rm -rf results .snakemake build
