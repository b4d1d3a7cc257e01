"""Load frames into the warehouse through a Parquet snapshot (the same path BigQuery loads)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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
