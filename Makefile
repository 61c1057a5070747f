# The two commands of the README: `make run` and `make test`. Both build .venv/ first.
# The first Python 3.11+ found (a pyenv shim of a version not installed does not count);
# if there is none, python3, which python-check then refuses in one line.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.14 python3; do \
  $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && command -v $$p && break; \
  done || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0
TORCH := torch==$(TORCH_VERSION)
# torch comes from PyTorch's own index: PyPI's torch is the CUDA build (4.6 GB with its
# nvidia packages). CUDA=cu128 (a CUDA version PyTorch publishes) installs that build.
CUDA ?=
TORCH_INDEX ?= https://download.pytorch.org/whl/$(or $(CUDA),cpu)

.PHONY: run test lint format bench clean python-check

python-check:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: musicbot needs Python 3.11 or newer, and '$(or $(PYTHON),python3)' is $$($(PYTHON) -V 2>&1 || echo missing); install python3.11 (Ubuntu 22.04: sudo apt install python3.11 python3.11-venv) or run: make PYTHON=/path/to/python3.11" >&2; \
	  exit 1; }

# torch: kept if the venv has it; else a wheel this machine already holds (pip's
# find-links, no download) unless CUDA is asked for; else PyTorch's index for the build.
$(STAMP): pyproject.toml | python-check
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "$(TORCH_VERSION)" or ("$(CUDA)" != "" and torch.version.cuda is None))' 2>/dev/null \
	  || { test -z "$(CUDA)" && $(BIN)/python -m pip install --quiet --no-index --no-deps "$(TORCH)" 2>/dev/null; } \
	  || $(BIN)/python -m pip install --quiet --index-url $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev,evaluate]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/musicbot chat

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV)
