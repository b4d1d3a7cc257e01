"""Data-quality assertions: a query that returns offending rows; zero rows is a pass."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

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


def failure(assertion: SqlObject, result: AssertionResult) -> AssertionFailed:
    """The error for a failed assertion, with up to ten offending rows shown."""
    shown = result.sample.to_pandas().to_string(index=False, max_colwidth=None)
    return AssertionFailed(
        f"assertion {assertion.name} failed ({assertion.path}): "
        f"{result.offending_rows} offending row(s); {assertion.description}\n"
        f"first {min(SHOWN_ROWS, result.offending_rows)}:\n{shown}"
    )


def check_assertion(warehouse: Warehouse, assertion: SqlObject) -> AssertionResult:
    """Run an assertion and raise with the offending rows shown when it fails."""
    result = run_assertion(warehouse, assertion)
    if not result.passed:
        raise failure(assertion, result)
    return result


def record_assertion(warehouse: Warehouse, assertion: SqlObject, result: AssertionResult) -> None:
    """Upsert the outcome into ``market_data.assertion_results`` (one row per assertion)."""
    row = pd.DataFrame(
        {
            "assertion": [assertion.name],
            "status": ["passed" if result.passed else "failed"],
            "offending_rows": pd.array([result.offending_rows], dtype="int64"),
            "sql_sha256": [assertion.sha256],
            "checked_at": [pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")],
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "assertion_result.parquet"
        row.to_parquet(path, index=False)
        warehouse.merge_parquet("market_data", "assertion_results", path, ["assertion"])
