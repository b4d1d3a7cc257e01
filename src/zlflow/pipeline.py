"""Loading the warehouse's raw and reference tables: the load jobs' domain functions.

The tests build a whole warehouse in one process from these and the deploy and assertion
functions (``tests/warehouse_build.py``), in the order the workflow's jobs do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zlflow.loading import ShrinkGuard, check_shrink, load_frame
from zlflow.reference import build_reference_table
from zlflow.warehouse.base import TableInfo, Warehouse
from zlflow.warehouse.wap import published_key

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
    # Imported here: pandera and the readers load in a raw-table job only, not in a
    # reference-table job or the Snakefile (which imports user_files).
    from zlflow.sources.files import read_raw_table, repairs, specs_from_config, widen_sources
    from zlflow.sources.validate import DEFAULT_EXCHANGE, validate_raw

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
