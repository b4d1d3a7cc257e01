"""Warehouse backends behind one interface; ``connect`` picks one from config."""

from __future__ import annotations

from typing import Any

from zlflow.errors import ConfigError
from zlflow.warehouse.base import TableInfo, Warehouse

__all__ = ["TableInfo", "Warehouse", "connect"]


def connect(config: dict[str, Any], labels: dict[str, str] | None = None) -> Warehouse:
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
            threads=settings.get("threads"),
        )
    if backend == "bigquery":
        from zlflow.warehouse.bigquery import BigQueryWarehouse

        settings = config["bigquery"]
        client = None
        if settings.get("api_endpoint"):  # a local emulator: never Google
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import bigquery

            client = bigquery.Client(
                project=settings["project"],
                credentials=AnonymousCredentials(),
                client_options=ClientOptions(api_endpoint=settings["api_endpoint"]),
            )
        return BigQueryWarehouse(
            settings["project"],
            settings.get("location", "US"),
            datasets,
            client=client,
            labels=labels,
        )
    raise ConfigError(f"backend {backend!r} is not available; supported: duckdb, bigquery")
