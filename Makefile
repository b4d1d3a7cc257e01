# Two commands on a fresh machine: `make run` (install + run the workflow on the bundled
# sample) and `make test` (install + lint + tests). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run daily test lint format report clean bigquery-emulator

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# PyTorch first, pinned: the CPU build lies on this machine's disk; an unpinned torch
	# pulled in by the project would resolve to a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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

test: lint bigquery-emulator
	tools/install_chromium.sh
	$(BIN)/python -m pytest

format: install
	$(BIN)/ruff format src tests scripts bench deploy
	$(BIN)/snakefmt Snakefile rules

# Benchmarks, not tests (BENCHMARKS.md): about 75 minutes; never part of `make test`.
.PHONY: bench
bench: install
	bench/run_all.sh

report: install
	$(BIN)/snakemake --report report.html

clean:
	rm -rf results .snakemake report.html
