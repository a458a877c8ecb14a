# Set-up and the two quick-start commands. `make prune` runs the main job, `make test` the tests
# (ruff, mypy, the whole suite, one pytest worker per core); `make check` is the quick edit-test
# loop (the suite without the tests marked slow).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CIFAR-10: the shared JPEG copy beside the repository when present, else the cache/download.
SHARED_DATA := ../shared/data/cifar10-jpeg.tar.gz
DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
DATA_FLAG := $(if $(DATA),--data $(DATA),)
# The main job's wall-clock budget, start-up to report (e.g. make prune TIME_BUDGET=1h).
TIME_BUDGET ?= 15m

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
	$(BIN)/pytest -n auto

check: lint typecheck
	$(BIN)/pytest -n auto -m "not slow"

prune: setup
	$(BIN)/taylorprune prune --model cifarnet --pretrained $(DATA_FLAG) --time-budget $(TIME_BUDGET) --out runs/quickstart --force
