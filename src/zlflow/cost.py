"""The cost guard: what each SQL object would scan on BigQuery, from free dry runs.

On-demand BigQuery bills bytes processed, so a query that loses its partition filter or
joins the wrong way can cost far more than the data is worth. A dry run reports those
bytes without running anything; the guard compares them with caps from config before
anyone pays.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import pandas as pd

from zlflow.errors import ZlflowError
from zlflow.warehouse.bigquery import MissingObjectError
from zlflow.warehouse.sql import SqlObject

GIB = 2**30
_SERVICE_PREFIX = re.compile(r"^.*? failed on BigQuery[^:]*: ")


class DryRunner(Protocol):
    """A warehouse that can estimate a query's bytes (BigQuery)."""

    def dry_run_bytes(self, query: SqlObject) -> int: ...


class CostCapExceeded(ZlflowError):
    """A dry run estimated more bytes than a configured cap allows."""


@dataclass(frozen=True)
class DryRun:
    """One object's estimate; a table's bytes are paid on each deploy, a view's on each read."""

    object: str
    kind: str  # "object" or "assertion"
    materialize: str
    status: str  # "ok", "over_cap" or "not_deployed"
    bytes_processed: int | None
    sql_file: str
    note: str = ""


def gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def dry_run_objects(
    warehouse: DryRunner,
    objects: Iterable[tuple[str, SqlObject]],
    deferred: Collection[str],
    max_bytes_per_object: int,
) -> list[DryRun]:
    """Dry-run each ``(kind, object)``.

    An object in ``deferred`` reads tables that only publishing creates (forecasts, the
    API views): while they do not exist it is reported ``not_deployed`` instead of
    failing. Any other error (invalid SQL, a table missing behind a marker) propagates.
    """
    runs = []
    for kind, obj in objects:
        key = f"assertions.{obj.name}" if kind == "assertion" else obj.key
        try:
            size: int | None = warehouse.dry_run_bytes(obj)
        except MissingObjectError as err:
            if key not in deferred:
                raise
            size, status, note = None, "not_deployed", _SERVICE_PREFIX.sub("", str(err))
        else:
            assert size is not None
            over = size > max_bytes_per_object
            status, note = ("over_cap", "") if over else ("ok", "")
        runs.append(DryRun(key, kind, obj.materialize, status, size, str(obj.path), note))
    return runs


def cost_table(runs: Sequence[DryRun]) -> pd.DataFrame:
    """The per-object report, largest first (the CSV the guard writes)."""
    frame = pd.DataFrame([asdict(r) for r in runs])
    frame["bytes_processed"] = frame["bytes_processed"].astype("Int64")
    frame.insert(5, "gib", (frame["bytes_processed"] / GIB).round(3))
    order = frame.sort_values(
        ["bytes_processed", "object"], ascending=[False, True], na_position="last"
    )
    return order.reset_index(drop=True)


def summarize(
    runs: Sequence[DryRun], max_bytes_per_object: int, max_bytes_total: int | None
) -> dict[str, Any]:
    """Totals, the objects over a cap, and ``problems``: one phrase per cap exceeded."""
    measured = [r for r in runs if r.bytes_processed is not None]
    total = sum(r.bytes_processed or 0 for r in measured)
    over = sorted(
        (r for r in measured if r.status == "over_cap"), key=lambda r: -(r.bytes_processed or 0)
    )
    problems = []
    if over:
        named = ", ".join(f"{r.object} ({gib(r.bytes_processed or 0)})" for r in over)
        cap = gib(max_bytes_per_object)
        problems.append(f"{named} above bigquery.max_bytes_per_object = {cap}")
    if max_bytes_total is not None and total > max_bytes_total:
        problems.append(
            f"{len(measured)} objects together {gib(total)}, above bigquery.max_bytes_total "
            f"= {gib(max_bytes_total)}"
        )
    return {
        "objects": len(runs),
        "dry_run": len(measured),
        "not_deployed": [r.object for r in runs if r.status == "not_deployed"],
        "over_cap": [r.object for r in over],
        "total_bytes": total,
        "max_bytes_per_object": max_bytes_per_object,
        "max_bytes_total": max_bytes_total,
        "passed": not problems,
        "problems": problems,
    }
