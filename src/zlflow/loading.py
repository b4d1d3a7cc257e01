"""Load frames into the warehouse through a Parquet snapshot (the same path BigQuery loads)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from zlflow.errors import SourceError, ZlflowError
from zlflow.markers import fix_mode
from zlflow.sources.tables import DATE_COLUMNS, SERIES_COLUMNS
from zlflow.warehouse.base import TableInfo, Warehouse


def write_parquet_atomic(
    table: pa.Table | pd.DataFrame, path: str | Path, compression: str = "zstd"
) -> None:
    """Write Parquet beside ``path`` and rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression=None if compression == "none" else compression)
        fix_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_frame(
    warehouse: Warehouse, dataset_key: str, name: str, frame: pd.DataFrame, snapshot: str | Path
) -> TableInfo:
    """Snapshot ``frame`` to Parquet, then replace the warehouse table with it atomically."""
    write_parquet_atomic(frame, snapshot)
    return warehouse.load_parquet(dataset_key, name, Path(snapshot))


@dataclass(frozen=True)
class ShrinkGuard:
    """How much of a series a reload may remove before it is refused (config shrink_guard)."""

    max_drop_share: float = 0.05
    allow: bool = False


OVERRIDE: Final = "--config allow_shrink=true"


def series_extent_sql(dataset_key: str, table: str) -> str:
    """Rows and first date of each series of a raw table, as the shrink guard reads them."""
    series, day = SERIES_COLUMNS[table], DATE_COLUMNS[table]
    return (
        f"SELECT {series} AS series, COUNT(*) AS n, MIN({day}) AS first "
        f"FROM ${{{dataset_key}}}.{table} GROUP BY {series}"
    )


def check_shrink(
    warehouse: Warehouse,
    dataset_key: str,
    table: str,
    frame: pd.DataFrame,
    guard: ShrinkGuard,
) -> None:
    """Refuse a replacement that drops too many of a series' rows or its early history.

    A file cut short or swapped for a later extract would otherwise delete years of
    history through every layer; the message names the override for a deliberate change.
    """
    if guard.allow or not table_exists(warehouse, dataset_key, table):
        return
    series, day = SERIES_COLUMNS[table], DATE_COLUMNS[table]
    old = warehouse.query_arrow(series_extent_sql(dataset_key, table)).to_pandas()
    new = frame.groupby(series)[day].agg(["count", "min"])
    found = []
    for name, n, first in zip(old["series"], old["n"], old["first"], strict=True):
        kept = int(new["count"].get(name, 0))
        removed = int(n) - kept
        if removed > guard.max_drop_share * int(n):
            found.append(f"{removed:,} of {int(n):,} {name} rows ({removed / int(n):.0%})")
        elif kept and pd.Timestamp(new["min"][name]) > pd.Timestamp(first):
            found.append(
                f"{name}'s history before {pd.Timestamp(new['min'][name]):%Y-%m-%d} "
                f"(loaded from {pd.Timestamp(first):%Y-%m-%d})"
            )
    if found:
        raise SourceError(
            f"loading {table} would remove {'; '.join(found)} "
            f"(shrink_guard.max_drop_share {guard.max_drop_share:g}); nothing was loaded. "
            f"If the smaller data is intended, run again with {OVERRIDE}"
        )


def table_exists(warehouse: Warehouse, dataset_key: str, name: str) -> bool:
    """Whether the table or view exists (any backend)."""
    try:
        warehouse.table_info(dataset_key, name)
    except ZlflowError:
        return False
    return True
