# Two commands on a fresh machine: `make run` (install + run the workflow on the bundled
# sample) and `make test` (install + lint + tests). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock run daily test lint format report clean bigquery-emulator

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# PyTorch first, pinned: the CPU build lies on this machine's disk; an unpinned torch
	# pulled in by the project would resolve to a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# Then every package at the version requirements.lock pins (runtime + dev extra), and the
	# project itself without resolving again. `make lock` updates the lock (CONTRIBUTING.md).
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Re-resolve requirements.lock from pyproject.toml, keeping the pinned versions where they still
# fit (LOCK_ARGS=--upgrade, or --upgrade-package NAME, moves them). Needs uv (not in the venv:
# `pip install uv` anywhere, then UV=/path/to/uv). TORCH_WHEELS holds the CPU build of torch;
# without it the lock would pin the CUDA build and its nvidia-* packages.
UV ?= uv
TORCH_WHEELS ?= /opt/wheels
lock:
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --find-links $(TORCH_WHEELS) \
		--custom-compile-command 'make lock' $(LOCK_ARGS) -o requirements.lock

run: install
	$(BIN)/snakemake

# The morning run on live data for today, logged and locked (deploy/daily.py; schedules in
# deploy/ and docs/operations.md). Snakemake arguments: make daily DAILY_ARGS="-n".
daily: install
	$(BIN)/python deploy/daily.py -- $(DAILY_ARGS)

lint: install
	$(BIN)/ruff check src tests scripts bench deploy
	$(BIN)/ruff format --check src tests scripts bench deploy
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

# The BigQuery backend is tested with the real client against a local emulator, which
# needs Python 3.13 in its own venv (.venv-bqemu); the dashboard test needs Chromium.
bigquery-emulator:
	tools/bigquery_emulator.sh setup

# One pytest worker per core, at most 4, each taking whole test files (a file's workflow
# tests share one built copy of the workflow); a worker whose tests fail still fails the run.
test: lint bigquery-emulator
	tools/install_chromium.sh
	$(BIN)/python -m pytest --numprocesses auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder

format: install
	$(BIN)/ruff format src tests scripts bench deploy
	$(BIN)/snakefmt Snakefile rules

# Benchmarks, not tests (BENCHMARKS.md): about two hours; never part of `make test`.
.PHONY: bench
bench: install
	bench/run_all.sh

report: install
	$(BIN)/snakemake --report report.html

clean:
	rm -rf results .snakemake report.html
