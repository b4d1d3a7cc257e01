"""Data-quality assertions: a query that returns offending rows; zero rows is a pass."""

from __future__ import annotations

from dataclasses import dataclass

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


def check_assertion(warehouse: Warehouse, assertion: SqlObject) -> AssertionResult:
    """Run an assertion and raise with the offending rows shown when it fails."""
    result = run_assertion(warehouse, assertion)
    if not result.passed:
        shown = result.sample.to_pandas().to_string(index=False, max_colwidth=None)
        raise AssertionFailed(
            f"assertion {assertion.name} failed ({assertion.path}): "
            f"{result.offending_rows} offending row(s); {assertion.description}\n"
            f"first {min(SHOWN_ROWS, result.offending_rows)}:\n{shown}"
        )
    return result
