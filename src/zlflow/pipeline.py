"""The warehouse half of the workflow as plain function calls.

Snakemake runs these steps one job each; tests and benchmarks call ``build_warehouse``
to run them in one process on the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zlflow.assertions import AssertionResult, failure, record_assertion, run_assertion
from zlflow.loading import load_frame
from zlflow.objects import assertion_objects, deploy_order, sql_objects
from zlflow.reference import REFERENCE_TABLES, build_reference_table, config_subset
from zlflow.sources.sample import SAMPLE_FILES, read_table
from zlflow.warehouse.base import TableInfo, Warehouse


def load_raw(
    warehouse: Warehouse, table: str, sample_dir: str | Path, snapshot: str | Path
) -> TableInfo:
    """Read one raw table's sample files and load them into market_data."""
    return load_frame(warehouse, "market_data", table, read_table(sample_dir, table), snapshot)


def load_reference(
    warehouse: Warehouse, table: str, settings: Mapping[str, Any], snapshot: str | Path
) -> TableInfo:
    """Build one reference table from its config subset and load it into market_data."""
    return load_frame(
        warehouse, "market_data", table, build_reference_table(table, settings), snapshot
    )


def build_warehouse(
    warehouse: Warehouse,
    config: Mapping[str, Any],
    snapshot_dir: str | Path,
    sql_dir: str | Path = "sql",
    run_assertions: bool = True,
) -> dict[str, AssertionResult]:
    """Load, deploy and assert everything, in dependency order."""
    snapshot_dir = Path(snapshot_dir)
    for table in SAMPLE_FILES:
        load_raw(warehouse, table, config["sample_dir"], snapshot_dir / f"{table}.parquet")
    assertions = sorted(assertion_objects(sql_dir))
    for table in REFERENCE_TABLES:
        load_reference(
            warehouse,
            table,
            config_subset(config, table, assertions),
            snapshot_dir / f"{table}.parquet",
        )
    objects = sql_objects(sql_dir, config["horizons"])
    for key in deploy_order(objects):
        if objects[key].dataset != "api":  # the API layer reads published forecasts
            warehouse.deploy(objects[key])
    if not run_assertions:
        return {}
    results = {}
    for name, obj in assertion_objects(sql_dir).items():
        results[name] = run_assertion(warehouse, obj)
        record_assertion(warehouse, obj, results[name])
        if not results[name].passed:
            raise failure(obj, results[name])
    return results
