"""The warehouse half of the workflow as plain function calls.

Snakemake runs these steps one job each; tests and benchmarks call ``build_warehouse``
to run them in one process on the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zlflow.assertions import (
    AssertionResult,
    failure,
    record_assertion,
    run_assertion,
    with_lineage,
)
from zlflow.loading import ShrinkGuard, check_shrink, load_frame
from zlflow.objects import assertion_objects, deploy_order, sql_objects
from zlflow.reference import REFERENCE_TABLES, build_reference_table, config_subset
from zlflow.sources.files import read_raw_table, repairs, specs_from_config, widen_sources
from zlflow.sources.sample import SAMPLE_FILES
from zlflow.sources.validate import DEFAULT_EXCHANGE, validate_raw
from zlflow.warehouse.base import TableInfo, Warehouse
from zlflow.warehouse.wap import (
    LAYERS,
    candidate_datasets,
    inspect_hint,
    published_key,
    split_objects,
)

DEFAULT_GUARD = ShrinkGuard()


@dataclass(frozen=True)
class RawLoad:
    """What loading one raw table did: the table, and how many rows each repair changed."""

    info: TableInfo
    repairs: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def load_raw(
    warehouse: Warehouse,
    table: str,
    sample_dir: str | Path,
    snapshot: str | Path,
    files: Mapping[str, Any] | None = None,
    guard: ShrinkGuard = DEFAULT_GUARD,
    calendar: Mapping[str, Any] | None = None,
) -> RawLoad:
    """Read one raw table (bundled sample, and the user's ``files`` for it), pass it
    through the validation gate and the shrink guard, then load it into market_data.

    Nothing is written (not even the snapshot) unless every check passes. ``calendar``
    (config ``calendar``) names the exchange calendar gaps are measured in, per symbol.
    """
    calendar = calendar or {}
    exchange = calendar.get("exchange", DEFAULT_EXCHANGE)
    exchanges = calendar.get("exchanges") or {}
    specs = [
        replace(s, exchange=exchanges.get(s.symbol, exchange))
        for s in specs_from_config(files, table)
    ]
    frame = read_raw_table(sample_dir, table, specs)
    widen = widen_sources(specs)
    origin = ", ".join([str(s.path) for s in specs] + [str(sample_dir)])
    validate_raw(
        table,
        frame,
        "files" if specs else "sample",
        origin,
        widen=widen,
        exchange=exchange,
        exchanges=exchanges,
    )
    check_shrink(warehouse, published_key(warehouse.datasets, "market_data"), table, frame, guard)
    info = load_frame(warehouse, "market_data", table, frame, snapshot)
    return RawLoad(info, repairs(frame, table, widen), [str(s.path) for s in specs])


def user_files(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``files`` a run loads: only with ``source: files``."""
    return config.get("files") if config.get("source") == "files" else None


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
