"""Shared fixtures: one real DuckDB warehouse built from the bundled sample per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from zlflow.pipeline import build_warehouse
from zlflow.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]


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
