# Set-up and the two quick-start commands. `make prune` runs the main job, `make test` the tests
# (ruff, mypy, the whole suite); `make check` is the quick edit-test loop (the suite without
# the tests marked slow).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CIFAR-10: the shared JPEG copy beside the repository when present, else the cache/download.
SHARED_DATA := ../shared/data/cifar10-jpeg.tar.gz
DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
DATA_FLAG := $(if $(DATA),--data $(DATA),)

.PHONY: setup test check lint typecheck prune

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

lint: setup
	$(BIN)/ruff check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

check: lint typecheck
	$(BIN)/pytest -m "not slow"

prune: setup
	$(BIN)/taylorprune prune --model cifarnet --pretrained $(DATA_FLAG) --out runs/quickstart --force
