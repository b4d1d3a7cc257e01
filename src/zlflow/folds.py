"""Walk-forward folds with a purge: the fold table is the one source of fold boundaries.

Folds are counted in sessions (rows of the training export, one per trade date). Each
fold tests on ``test_sessions`` consecutive rows; its training rows end early enough that
every training target is realised before the first test date (purge = horizon), plus an
optional embargo. Nothing after a fold's train end can reach its model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zlflow.errors import ZlflowError

FOLD_COLUMNS = (
    "fold",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "train_rows",
    "test_rows",
    "purged_rows",
    "horizon_days",
    "fingerprint",
)


class FoldError(ZlflowError):
    """The walk-forward settings cannot produce a valid fold on this data."""


@dataclass(frozen=True)
class FoldSpec:
    """Walk-forward settings from config (``walk_forward:``)."""

    window: str = "expanding"
    first_test_start: str = "2016-01-01"
    test_sessions: int = 126
    step_sessions: int = 126
    min_train_sessions: int = 750
    train_sessions: int | None = None
    embargo_sessions: int = 0
    max_folds: int | None = None

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> FoldSpec:
        spec = cls(**dict(settings))
        if spec.window not in ("expanding", "sliding"):
            raise FoldError(f"walk_forward.window must be expanding or sliding, not {spec.window}")
        if spec.window == "sliding" and not spec.train_sessions:
            raise FoldError("walk_forward.train_sessions is required for a sliding window")
        return spec


def read_folds(path: str | Path) -> pd.DataFrame:
    """The fold table a checkpoint wrote (``fold_table.csv``), with its dates as dates."""
    table = pd.read_csv(path)
    for column in ("train_start", "train_end", "test_start", "test_end"):
        table[column] = pd.to_datetime(table[column]).astype("datetime64[us]")
    return table


def make_folds(frame: pd.DataFrame, spec: FoldSpec, horizon_days: int) -> pd.DataFrame:
    """The fold table for a training frame with ``trade_date`` and ``target_date``.

    Only rows with a realised target take part. Training rows of fold k are those with
    ``target_date < test_start`` (the purge) and at least ``embargo_sessions`` further rows
    before the test window.
    """
    rows = frame.loc[frame["target_date"].notna(), ["trade_date", "target_date"]]
    rows = rows.sort_values("trade_date").reset_index(drop=True)
    dates = pd.DatetimeIndex(rows["trade_date"])
    first = int(dates.searchsorted(pd.Timestamp(spec.first_test_start)))
    folds = []
    start = first
    while start + spec.test_sessions <= len(rows):
        if spec.max_folds is not None and len(folds) >= spec.max_folds:
            break
        test = rows.iloc[start : start + spec.test_sessions]
        test_start = test["trade_date"].iloc[0]
        eligible = rows.iloc[:start]
        eligible = eligible[eligible["target_date"] < test_start]
        end = len(eligible) - spec.embargo_sessions
        begin = max(0, end - spec.train_sessions) if spec.window == "sliding" else 0
        train = eligible.iloc[begin:end]
        if len(train) < spec.min_train_sessions:
            raise FoldError(
                f"fold {len(folds)} (test from {test_start.date()}) has {len(train)} training "
                f"rows, fewer than walk_forward.min_train_sessions={spec.min_train_sessions}: "
                "move first_test_start later or lower the minimum"
            )
        folds.append(
            {
                "fold": len(folds),
                "train_start": train["trade_date"].iloc[0],
                "train_end": train["trade_date"].iloc[-1],
                "test_start": test_start,
                "test_end": test["trade_date"].iloc[-1],
                "train_rows": len(train),
                "test_rows": len(test),
                "purged_rows": start - end,
                "horizon_days": horizon_days,
                "fingerprint": "",
            }
        )
        start += spec.step_sessions
    if not folds:
        raise FoldError(
            f"no walk-forward fold fits: {len(rows) - first} rows with targets from "
            f"{spec.first_test_start}, test_sessions={spec.test_sessions}"
        )
    table = pd.DataFrame(folds, columns=list(FOLD_COLUMNS))
    for column in ("train_start", "train_end", "test_start", "test_end"):
        table[column] = pd.to_datetime(table[column]).astype("datetime64[us]")
    table["fingerprint"] = [
        rows_fingerprint(pd.concat(fold_rows(frame, fold))) for fold in table.to_dict("records")
    ]
    return table


# Floats are hashed at this relative precision (about six significant digits), and values
# below the absolute floor as zero: warehouse window sums differ in their last bits when the
# partition changes (DuckDB's summation order follows the partition size), which is not a
# change in the data, while any real revision (a tick, a revised release) moves a value by
# far more. A value sitting on a rounding boundary can still flip: a spurious rerun of one
# fold, never a stale one.
FINGERPRINT_BITS = 20
FINGERPRINT_FLOOR = 1e-12


def tolerant_floats(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to ``FINGERPRINT_BITS`` significant bits; tiny values to zero."""
    x = np.where(np.abs(values) < FINGERPRINT_FLOOR, 0.0, values)
    mantissa, exponent = np.frexp(x)
    scale = float(2**FINGERPRINT_BITS)
    return np.ldexp(np.round(mantissa * scale) / scale, exponent)


def rows_fingerprint(rows: pd.DataFrame) -> str:
    """Content hash of the rows a fold (or the tuning) reads, independent of other rows.

    A fold's jobs take it as a Snakemake params value, so new or revised data reruns
    exactly the folds whose windows hold changed rows. It is computed from the export
    alone (no memory of earlier runs): floats enter at ``tolerant_floats`` precision.
    """
    ordered = rows.sort_values("trade_date")[sorted(rows.columns)].reset_index(drop=True)
    for column in ordered.columns:
        if pd.api.types.is_float_dtype(ordered[column]):
            ordered[column] = tolerant_floats(ordered[column].to_numpy(dtype=float))
    digest = hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    digest.update(",".join(ordered.columns).encode())
    return digest.hexdigest()[:16]


def realised_before(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Rows whose target is realised before ``cutoff``: all that tuning may read, and so
    what its fingerprint covers."""
    return frame[frame["target_date"].notna() & (frame["target_date"] < cutoff)]


def fold_table(
    frame: pd.DataFrame, spec: FoldSpec, horizon_days: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The walk_forward_folds checkpoint's two outputs: the fold table and its sidecar."""
    folds = make_folds(frame, spec, horizon_days)
    return folds, fold_table_sidecar(frame, folds)


def fold_table_sidecar(frame: pd.DataFrame, folds: pd.DataFrame) -> dict[str, Any]:
    """What the tune rule reads from the fold table's checkpoint: the fold count, the first
    test date and the fingerprint of the rows tuning may see (targets realised before it)."""
    cutoff = folds["test_start"].min()
    return {
        "folds": len(folds),
        "tuning_cutoff": str(cutoff.date()),
        "tuning_fingerprint": rows_fingerprint(realised_before(frame, cutoff)),
    }


def fold_rows(frame: pd.DataFrame, fold: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows of one fold, selected by the fold table's dates only."""
    dates = frame["trade_date"]
    train = frame[
        (dates >= fold["train_start"]) & (dates <= fold["train_end"]) & frame["target_date"].notna()
    ]
    test = frame[(dates >= fold["test_start"]) & (dates <= fold["test_end"])]
    return train, test
