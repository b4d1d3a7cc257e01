"""The warehouse object graph: which SQL objects exist and what each reads.

Snakemake's input functions and the tests both use it, so the DAG comes from the SQL
itself (its ``${dataset}.object`` references) and cannot drift from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from zlflow.errors import SqlError
from zlflow.reference import REFERENCE_TABLES
from zlflow.sources.sample import SAMPLE_FILES
from zlflow.warehouse.sql import SqlObject, discover, read_sql_object

RAW_TABLES: tuple[str, ...] = tuple(SAMPLE_FILES)
SQL_DATASETS: tuple[str, ...] = ("staging", "features", "training", "api")
# Published by upload jobs, and written by assertion jobs, rather than deployed from SQL.
PUBLISHED_TABLES: tuple[str, ...] = (
    "forecasts.zl_forecasts_daily",
    "forecasts.zl_explainers_daily",
    "forecasts.zl_backtest_metrics",
    "forecasts.zl_backtest_verdicts",
)
ASSERTION_RESULTS = "market_data.assertion_results"
HORIZON_TEMPLATE = Path("training", "vw_zl_horizon_v1.sql")


def horizon_view_name(horizon: str) -> str:
    return f"vw_zl_{horizon}_v1"


def sql_objects(sql_dir: str | Path, horizons: Mapping[str, int]) -> dict[str, SqlObject]:
    """Every deployable object keyed ``dataset.name``, per-horizon views included."""
    objects = discover(sql_dir, list(SQL_DATASETS))
    for horizon in horizons:
        obj = read_sql_object(
            Path(sql_dir, HORIZON_TEMPLATE), horizon_view_name(horizon), {"horizon": horizon}
        )
        objects[obj.key] = obj
    return objects


def assertion_objects(sql_dir: str | Path) -> dict[str, SqlObject]:
    """Every ``sql/assertions/*.sql`` keyed by name."""
    return {p.stem: read_sql_object(p) for p in sorted(Path(sql_dir, "assertions").glob("*.sql"))}


def loaded_tables() -> set[str]:
    """Objects that rules load from files rather than deploy from SQL."""
    loaded = {f"market_data.{t}" for t in (*RAW_TABLES, *REFERENCE_TABLES)}
    return loaded | set(PUBLISHED_TABLES) | {ASSERTION_RESULTS, "training.walk_forward_folds"}


def check_references(obj: SqlObject, known: set[str]) -> list[str]:
    """The object's dependencies as ``dataset.name``; unknown ones are an error naming the file."""
    keys = [f"{d}.{n}" for d, n in obj.dependencies()]
    missing = [k for k in keys if k not in known]
    if missing:
        raise SqlError(
            f"{obj.path} reads {', '.join(missing)}, which no SQL file or loader defines"
        )
    return keys


def deploy_order(objects: Mapping[str, SqlObject]) -> list[str]:
    """Objects in an order where each comes after everything it reads."""
    known = set(objects) | loaded_tables()
    graph = {
        key: [d for d in check_references(obj, known) if d in objects]
        for key, obj in objects.items()
    }
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise SqlError(f"SQL objects read each other in a cycle: {err.args[1]}") from err


def describe(config: Mapping[str, Any]) -> str:
    """One line per object for --help style listings."""
    objects = sql_objects("sql", config["horizons"])
    return "\n".join(f"{k:40s} {objects[k].description}" for k in deploy_order(objects))
