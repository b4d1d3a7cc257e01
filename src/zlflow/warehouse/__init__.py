"""Warehouse backends behind one interface; ``connect`` picks one from config."""

from __future__ import annotations

from typing import Any

from zlflow.errors import ConfigError
from zlflow.warehouse.base import TableInfo, Warehouse

__all__ = ["TableInfo", "Warehouse", "connect"]


def connect(config: dict[str, Any]) -> Warehouse:
    """Open the backend named by ``config['backend']`` (imported lazily)."""
    backend = config.get("backend", "duckdb")
    datasets = config["datasets"]
    if backend == "duckdb":
        from zlflow.warehouse.duckdb import DuckDBWarehouse

        settings = config.get("duckdb", {})
        return DuckDBWarehouse(
            settings.get("path", "results/warehouse/zlflow.duckdb"),
            datasets,
            lock_timeout_s=settings.get("lock_timeout_s", 600),
        )
    raise ConfigError(f"backend {backend!r} is not available; supported: duckdb")
