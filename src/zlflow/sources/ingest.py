"""Load a fetched frame into a raw table: validate, snapshot, upsert, log.

Order matters for safety: nothing is written before validation passes; the Parquet
snapshot is written under a hidden name and merged from there, and only renamed over
the previous snapshot once the merge committed, so a failure leaves both the warehouse
and the previous snapshot exactly as they were. Reloading the same rows changes nothing
(``merge_parquet`` reports them ``unchanged``); a revised row is one ``updated``.

``market_data.ingest_log`` gets one row per call, reruns included (a rerun's row says
0 inserted): it is the record of which date ranges each source has been fetched for,
and :func:`missing_range` reads it to fetch only what is new.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeAlias

import numpy as np
import pandas as pd

from zlflow.errors import SourceError
from zlflow.loading import table_exists, write_parquet_atomic
from zlflow.sources.sample import TABLE_KEYS
from zlflow.sources.validate import DEFAULT_EXCHANGE, date_column, validate_raw
from zlflow.warehouse.base import MergeResult, Warehouse

log = logging.getLogger(__name__)

DateLike: TypeAlias = date | str | pd.Timestamp

INGEST_LOG: Final = "ingest_log"
INGEST_LOG_SCHEMA: Final = {
    "ingest_id": "str",
    "source": "str",
    "table_name": "str",
    "range_start": "datetime64[us]",
    "range_end": "datetime64[us]",
    "rows": "int64",
    "inserted": "int64",
    "updated": "int64",
    "unchanged": "int64",
    "table_rows": "int64",
    "snapshot": "str",
    "ingested_at": "datetime64[us]",
}
# Session-open labels (TradingView) fall on the evening before the trade date.
_SESSION_OPEN_SHIFT: Final = pd.Timedelta(hours=6)


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of calendar dates that a fetch covered (or should cover)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise SourceError(f"date range end {self.end} is before start {self.start}")

    @classmethod
    def of(cls, value: DateRange | tuple[DateLike, DateLike]) -> DateRange:
        if isinstance(value, DateRange):
            return value
        start, end = (pd.Timestamp(v).date() for v in value)
        return cls(start, end)


def _row_dates(table: str, frame: pd.DataFrame) -> pd.Series:
    """The calendar date each row is about (trade date for session-open bar labels)."""
    stamps = frame[date_column(table)]
    if table == "raw_futures_daily":
        session = frame["label_kind"] == "session_open_sao_paulo"
        stamps = stamps.where(~session, stamps + _SESSION_OPEN_SHIFT)
    return stamps.dt.normalize()


def _resolve_range(
    table: str, frame: pd.DataFrame, value: DateRange | tuple[DateLike, DateLike] | None, where: str
) -> DateRange:
    days = _row_dates(table, frame)
    if value is None:
        if frame.empty:
            raise SourceError(f"{where}: an empty frame needs an explicit date range to log")
        return DateRange(days.min().date(), days.max().date())
    rng = DateRange.of(value)
    outside = np.flatnonzero(
        ((days < pd.Timestamp(rng.start)) | (days > pd.Timestamp(rng.end))).to_numpy()
    )
    if outside.size:
        shown = frame.iloc[outside[:10]].to_string()
        raise SourceError(
            f"{where}: {outside.size} row(s) dated outside the fetched range "
            f"{rng.start}..{rng.end}; the ingest log would misstate coverage:\n{shown}"
        )
    return rng


def symbol_sources_sql(dataset_key: str) -> str:
    """The (symbol, source) pairs of the raw futures bars already loaded."""
    return f"SELECT DISTINCT symbol, source FROM ${{{dataset_key}}}.raw_futures_daily"


def ingest_log_sql(dataset_key: str) -> str:
    """The whole ingest log (a few rows per run)."""
    return f"SELECT * FROM ${{{dataset_key}}}.{INGEST_LOG}"


def _check_one_source_per_symbol(
    warehouse: Warehouse, dataset_key: str, frame: pd.DataFrame, where: str
) -> None:
    """Refuse futures bars for a symbol already loaded from another source.

    The key is (symbol, bar_label) and sources label bars differently, so two sources of
    one symbol would not clash on the key: staging would merge their bars into one.
    """
    if frame.empty or not table_exists(warehouse, dataset_key, "raw_futures_daily"):
        return
    table = warehouse.table(dataset_key, "raw_futures_daily")
    existing = warehouse.query_arrow(symbol_sources_sql(dataset_key)).to_pandas()
    incoming = frame[["symbol", "source"]].drop_duplicates()
    clash = incoming.merge(existing, on="symbol", suffixes=("", "_loaded"))
    clash = clash[clash["source"] != clash["source_loaded"]]
    if len(clash):
        pairs = ", ".join(
            f"{s} (loaded from {o})" for s, o in clash[["symbol", "source_loaded"]].values
        )
        raise SourceError(
            f"{where}: symbol(s) {pairs} already in {table} from another source; staging "
            "would merge both sources' bars. Use a distinct symbol or remove the old rows."
        )


def _origin(frame: pd.DataFrame, snapshot: Path) -> str:
    if "source_file" in frame.columns and len(frame):
        files = sorted(frame["source_file"].astype(str).unique())
        return ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
    return str(snapshot)


def ingest(
    warehouse: Warehouse,
    table: str,
    frame: pd.DataFrame,
    snapshot_path: str | Path,
    source: str,
    date_range: DateRange | tuple[DateLike, DateLike] | None = None,
    *,
    dataset_key: str = "market_data",
    calendar: Mapping[str, Any] | None = None,
) -> MergeResult:
    """Validate ``frame``, snapshot it to ``snapshot_path``, upsert it and log the run.

    ``source`` names what was fetched (e.g. ``fred:DGS10``, ``openmeteo:iowa_central``):
    :func:`missing_range` tracks coverage per (source, table). ``date_range`` is the
    inclusive range that was requested (default: the frame's own span); rows outside it
    are rejected because the log would then misstate what was fetched.
    """
    snapshot = Path(snapshot_path)
    where = f"{source} -> {table}"
    if table not in TABLE_KEYS:
        raise SourceError(f"{where}: unknown raw table; expected one of {sorted(TABLE_KEYS)}")
    calendar = calendar or {}
    validate_raw(
        table,
        frame,
        source,
        _origin(frame, snapshot),
        exchange=calendar.get("exchange", DEFAULT_EXCHANGE),
        exchanges=calendar.get("exchanges"),
    )
    rng = _resolve_range(table, frame, date_range, where)
    if table == "raw_futures_daily":
        _check_one_source_per_symbol(warehouse, dataset_key, frame, where)

    pending = snapshot.with_name(f".{snapshot.name}.{uuid.uuid4().hex}.pending")
    try:
        write_parquet_atomic(frame, pending)
        result = warehouse.merge_parquet(dataset_key, table, pending, TABLE_KEYS[table])
        os.replace(pending, snapshot)
    finally:
        pending.unlink(missing_ok=True)
    log.info(
        "%s: %d rows for %s..%s: %d inserted, %d updated, %d unchanged; table has %d rows",
        where,
        len(frame),
        rng.start,
        rng.end,
        result.inserted,
        result.updated,
        result.unchanged,
        result.rows,
    )
    _append_log(warehouse, dataset_key, source, table, rng, len(frame), result, snapshot)
    return result


def _append_log(
    warehouse: Warehouse,
    dataset_key: str,
    source: str,
    table: str,
    rng: DateRange,
    rows: int,
    result: MergeResult,
    snapshot: Path,
) -> None:
    """Append one row through the same idempotent merge (a unique id per run).

    Keyed on a fresh ``ingest_id``, so retrying the append of one run cannot duplicate it
    while every new run adds its own row.
    """
    now = datetime.now(UTC).replace(tzinfo=None)
    row = pd.DataFrame(
        {
            "ingest_id": [uuid.uuid4().hex],
            "source": [source],
            "table_name": [table],
            "range_start": [pd.Timestamp(rng.start)],
            "range_end": [pd.Timestamp(rng.end)],
            "rows": [rows],
            "inserted": [result.inserted],
            "updated": [result.updated],
            "unchanged": [result.unchanged],
            "table_rows": [result.rows],
            "snapshot": [snapshot.name],
            "ingested_at": [pd.Timestamp(now)],
        }
    ).astype(INGEST_LOG_SCHEMA)
    with tempfile.TemporaryDirectory(prefix=".ingest_log.", dir=snapshot.parent) as tmp:
        path = Path(tmp, "ingest_log.parquet")
        write_parquet_atomic(row, path)
        warehouse.merge_parquet(dataset_key, INGEST_LOG, path, ["ingest_id"])


def ingest_history(
    warehouse: Warehouse, source: str | None = None, *, dataset_key: str = "market_data"
) -> pd.DataFrame:
    """The ingest log (optionally of one source), oldest first; empty if none yet."""
    if not table_exists(warehouse, dataset_key, INGEST_LOG):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in INGEST_LOG_SCHEMA.items()})
    frame = warehouse.query_arrow(ingest_log_sql(dataset_key)).to_pandas()
    if source is not None:
        frame = frame[frame["source"] == source]
    return frame.sort_values(["ingested_at", "ingest_id"], kind="mergesort").reset_index(drop=True)


def missing_range(
    warehouse: Warehouse,
    table: str,
    source: str,
    start: DateLike,
    end: DateLike,
    *,
    lookback_days: int = 0,
    dataset_key: str = "market_data",
) -> DateRange | None:
    """The smallest range within [start, end] that the log does not show as fetched.

    ``None`` means nothing to fetch. ``lookback_days`` re-fetches that many days at the
    end of the covered span, for sources that publish late or revise recent values
    (the merge turns unchanged re-fetched rows into no-ops and revisions into updates).
    For an incremental ``end_date: today`` run pass ``end=date.today()``.
    """
    want = DateRange.of((start, end))
    history = ingest_history(warehouse, source, dataset_key=dataset_key)
    history = history[history["table_name"] == table]
    days = pd.date_range(want.start, want.end, freq="D")
    covered = np.zeros(len(days), dtype=bool)
    for s, e in zip(history["range_start"], history["range_end"], strict=True):
        covered |= (days >= s) & (days <= e)
    if lookback_days > 0 and len(history):
        latest = history["range_end"].max()
        covered &= ~((days > latest - timedelta(days=lookback_days)) & (days <= latest))
    gaps = np.flatnonzero(~covered)
    if not gaps.size:
        return None
    return DateRange(days[gaps[0]].date(), days[gaps[-1]].date())
