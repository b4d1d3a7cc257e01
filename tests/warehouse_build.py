"""A whole warehouse built in one process: what the workflow's warehouse jobs do, in order.

Tests use it for a built warehouse without a Snakemake run (fixtures, the write-audit-publish
cases, the DuckDB side of the SQL parity check). It calls the same domain functions as the
jobs (``zlflow.pipeline``, ``zlflow.assertions``, the warehouse's deploy and publish).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from zlflow.assertions import (
    AssertionResult,
    failure,
    record_assertion,
    run_assertion,
    with_lineage,
)
from zlflow.objects import assertion_objects, deploy_order, sql_objects
from zlflow.pipeline import load_raw, load_reference, user_files
from zlflow.reference import REFERENCE_TABLES, config_subset
from zlflow.sources.sample import SAMPLE_FILES
from zlflow.warehouse.base import Warehouse
from zlflow.warehouse.wap import (
    LAYERS,
    candidate_datasets,
    inspect_hint,
    published_key,
    split_objects,
)


def build_warehouse(
    warehouse: Warehouse,
    config: Mapping[str, Any],
    snapshot_dir: str | Path,
    sql_dir: str | Path = "sql",
    run_assertions: bool = True,
) -> dict[str, AssertionResult]:
    """Load, deploy and assert everything in candidate datasets, then publish, in
    dependency order (write-audit-publish, as the workflow's jobs do it).

    Without ``run_assertions`` the candidate is built and left unpublished.
    """
    snapshot_dir = Path(snapshot_dir)
    published = dict(warehouse.datasets)
    objects = sql_objects(sql_dir, config["horizons"])
    layered = [k for k in deploy_order(objects) if objects[k].dataset in LAYERS]
    with warehouse.using(candidate_datasets(published)):
        for table in SAMPLE_FILES:
            load_raw(
                warehouse,
                table,
                config["sample_dir"],
                snapshot_dir / f"{table}.parquet",
                user_files(config),
                calendar=config.get("calendar"),
            )
        assertions = sorted(assertion_objects(sql_dir))
        for table in REFERENCE_TABLES:
            load_reference(
                warehouse,
                table,
                config_subset(config, table, assertions),
                snapshot_dir / f"{table}.parquet",
            )
        for key in layered:
            warehouse.deploy(objects[key])
        if not run_assertions:
            return {}
        results = {}
        audit = published_key(warehouse.datasets, "market_data")
        for name, obj in assertion_objects(sql_dir).items():
            results[name] = run_assertion(warehouse, obj)
            record_assertion(warehouse, obj, results[name], audit)
            if not results[name].passed:
                shown = replace(results[name], sample=with_lineage(warehouse, results[name].sample))
                raise failure(obj, shown, inspect_hint(warehouse.datasets))
        loaded = {f"market_data.{t}": None for t in (*SAMPLE_FILES, *REFERENCE_TABLES)}
        warehouse.publish(*split_objects(loaded | {k: objects[k] for k in layered}))
    return results
