"""Data-quality assertions: a query that returns offending rows; zero rows is a pass."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from zlflow.errors import AssertionFailed
from zlflow.warehouse.base import Warehouse
from zlflow.warehouse.sql import SqlObject

SHOWN_ROWS = 10


@dataclass(frozen=True)
class AssertionResult:
    name: str
    offending_rows: int
    sample: pa.Table

    @property
    def passed(self) -> bool:
        return self.offending_rows == 0


def run_assertion(warehouse: Warehouse, assertion: SqlObject) -> AssertionResult:
    """Run one assertion and count its offending rows."""
    rows = warehouse.query_arrow(assertion.text)
    return AssertionResult(assertion.name, rows.num_rows, rows.slice(0, SHOWN_ROWS))


# Which raw row (file and row) each staged bar came from: the trade-date mapping of
# sql/staging/futures_daily.sql, kept to the columns an assertion's rows can be matched on.
LINEAGE_SQL = """
SELECT r.symbol, c.next_trade_date AS trade_date, r.source_file, r.source_row
FROM ${market_data}.raw_futures_daily AS r
JOIN ${market_data}.cbot_calendar AS c
  ON c.calendar_date = CASE r.label_kind
    WHEN 'trade_date' THEN DATE(r.bar_label)
    WHEN 'session_open_sao_paulo' THEN DATE(DATETIME_ADD(r.bar_label, INTERVAL 6 HOUR))
  END
WHERE r.symbol IN ({symbols})
"""
# The same for a macro or positioning observation (series_id as staging.macro_releases
# names it) and a station-day of weather.
MACRO_LINEAGE_SQL = """
SELECT series_id, DATE(obs_date) AS obs_date, source_file, source_row
FROM ${market_data}.raw_fred WHERE series_id IN ({symbols})
UNION ALL
SELECT CONCAT('COT_', symbol), DATE(report_date), source_file, source_row
FROM ${market_data}.raw_cot WHERE CONCAT('COT_', symbol) IN ({symbols})
"""
WEATHER_LINEAGE_SQL = """
SELECT station_id, DATE(obs_date) AS obs_date, source_file, source_row
FROM ${market_data}.raw_weather WHERE station_id IN ({symbols})
"""
# Key columns of an assertion's rows -> the query that finds their raw rows.
LINEAGE: Final = (
    (("symbol", "trade_date"), LINEAGE_SQL),
    (("series_id", "obs_date"), MACRO_LINEAGE_SQL),
    (("station_id", "obs_date"), WEATHER_LINEAGE_SQL),
)
_SYMBOL = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def with_lineage(warehouse: Warehouse, sample: pa.Table) -> pa.Table:
    """The offending rows with the raw file and row they came from, where they name a
    futures bar (symbol, trade_date), a macro or positioning observation (series_id,
    obs_date) or a station-day (station_id, obs_date); other rows are returned as they are."""
    names = set(sample.column_names)
    if "source_file" in names or not sample.num_rows:
        return sample
    found = [(keys, sql) for keys, sql in LINEAGE if set(keys) <= names]
    if not found:
        return sample
    import pandas as pd  # only a failed assertion needs it: a passing job starts faster

    (series, day), sql = found[0]
    frame = sample.to_pandas()
    keys = sorted({s for s in frame[series].dropna().astype(str) if _SYMBOL.match(s)})
    if not keys:
        return sample
    listed = ", ".join(f"'{s}'" for s in keys)
    lineage = warehouse.query_arrow(sql.replace("{symbols}", listed)).to_pandas()
    lineage[day] = pd.to_datetime(lineage[day])
    # A session merged from two bars shows its first bar's row.
    lineage = lineage.sort_values("source_row").drop_duplicates([series, day])
    keyed = frame.assign(**{day: pd.to_datetime(frame[day])})
    merged = keyed.merge(lineage, on=[series, day], how="left")
    merged[day] = frame[day].to_numpy()
    merged["source_row"] = merged["source_row"].astype("Int64")
    return pa.Table.from_pandas(merged, preserve_index=False)


def failure(assertion: SqlObject, result: AssertionResult, hint: str = "") -> AssertionFailed:
    """The error for a failed assertion, with up to ten offending rows shown (and, for a
    candidate, how to inspect or discard it)."""
    shown = result.sample.to_pandas().to_string(index=False, max_colwidth=None)
    return AssertionFailed(
        f"assertion {assertion.name} failed ({assertion.path}): "
        f"{result.offending_rows} offending row(s); {assertion.description}"
        + (f" {hint}" if hint else "")
        + f"\nfirst {min(SHOWN_ROWS, result.offending_rows)}:\n{shown}"
    )


def record_assertion(
    warehouse: Warehouse,
    assertion: SqlObject,
    result: AssertionResult,
    dataset_key: str = "market_data",
) -> None:
    """Upsert the outcome into ``assertion_results`` (one row per assertion).

    An audit of a candidate records into the published dataset (``dataset_key``
    ``published_market_data``): the alerts view reads it, and a failure must show there.
    """
    # pyarrow, not pandas: an assertion job is a process of its own, and importing pandas
    # would take about a third of it.
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    row = pa.table(
        {
            "assertion": pa.array([assertion.name], pa.string()),
            "status": pa.array(["passed" if result.passed else "failed"], pa.string()),
            "offending_rows": pa.array([result.offending_rows], pa.int64()),
            "sql_sha256": pa.array([assertion.sha256], pa.string()),
            "checked_at": pa.array([now], pa.timestamp("ns")),
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "assertion_result.parquet"
        pq.write_table(row, path)
        warehouse.merge_parquet(dataset_key, "assertion_results", path, ["assertion"])
