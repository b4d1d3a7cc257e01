"""Shared fixtures: one real DuckDB warehouse built from the bundled sample per test session,
and one local BigQuery emulator per test session for the tests that need it."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from warehouse_build import build_warehouse

from zlflow.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]


# The files that take longest (seconds of one worker's time at e3b7b8b, BENCHMARKS.md
# "Test suite"), in the order `make test` should start them: the daily replay (490; 290
# at 3cb12b7, three days), the workflow (460), the BigQuery workflow (200), live ingestion
# (160), the BigQuery backend (130), write-audit-publish (100), ZetaSQL (60).
LONGEST_FIRST = (
    "test_daily_replay.py",
    "test_workflow.py",
    "test_bigquery_workflow.py",
    "test_ingest_workflow.py",
    "test_bigquery.py",
    "test_wap.py",
    "test_zetasql.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect the longest files first, keeping each file's own order.

    `make test` deals whole files to its pytest-xdist workers in collection order (with
    --no-loadscope-reorder: by default xdist orders files by their number of tests, which
    put the 5-test replay last). Alphabetically the two 8-minute files started late, and
    one worker ran both while the other sat idle for three minutes.
    """
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def config() -> dict[str, Any]:
    """The default config, with the sample path made absolute."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["sample_dir"] = str(ROOT / cfg["sample_dir"])
    return cfg


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any]) -> Path:
    """Path of a DuckDB file holding every layer, built once, assertions passed."""
    folder = tmp_path_factory.mktemp("warehouse")
    path = folder / "zlflow.duckdb"
    with DuckDBWarehouse(path, config["datasets"]) as warehouse:
        build_warehouse(warehouse, config, folder / "snapshots", sql_dir=ROOT / "sql")
    return path


@pytest.fixture
def warehouse(built_warehouse: Path, config: dict[str, Any]) -> Iterator[DuckDBWarehouse]:
    """A connection to the session's built warehouse (read it; copy it to change it)."""
    with DuckDBWarehouse(built_warehouse, config["datasets"]) as connection:
        yield connection


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a local BigQuery emulator started for this session (never Google).

    ``tools/bigquery_emulator.sh`` installs it on first use (its own Python 3.13 venv);
    every test that talks to it uses its own project or datasets.
    """
    emulator = ROOT / "tools" / "bigquery_emulator.sh"
    setup = subprocess.run(
        [str(emulator), "setup"], capture_output=True, text=True, timeout=900, check=False
    )
    if setup.returncode != 0:
        pytest.fail(f"{emulator} setup failed:\n{setup.stderr}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    start = subprocess.run(
        [str(emulator), "start", str(tmp_path_factory.mktemp("bigquery_emulator")), str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if start.returncode != 0:
        pytest.fail(f"{emulator} start failed:\n{start.stderr}")
    pid = start.stdout.split()[-1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([str(emulator), "stop", pid], timeout=60, check=False)
