"""Publish forecasts, explainers and metrics back to the warehouse, idempotently.

Each table is checked with pandera, snapshotted to Parquet and merged on its natural key:
a rerun changes nothing, a revised row replaces the old one, and a failed upload leaves
the table as it was (the merge is one transaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa_schema

from zlflow.errors import ZlflowError
from zlflow.loading import write_parquet_atomic
from zlflow.models.base import quantile_column
from zlflow.warehouse.base import MergeResult, Warehouse

TABLE_KEYS: Mapping[str, tuple[str, ...]] = {
    "zl_forecasts_daily": ("as_of_date", "horizon", "model", "model_version"),
    "zl_explainers_daily": ("as_of_date", "horizon", "model", "model_version", "feature"),
    "zl_backtest_metrics": ("horizon", "model", "scope", "scope_value"),
    "zl_backtest_verdicts": ("horizon", "model", "metric", "baseline"),
}


# On BigQuery the tables are partitioned by date and clustered by model.
TABLE_LAYOUT: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "zl_forecasts_daily": ("DATE_TRUNC(as_of_date, MONTH)", ("model", "horizon")),
    "zl_explainers_daily": ("DATE_TRUNC(as_of_date, MONTH)", ("model", "horizon")),
    "zl_backtest_metrics": ("", ("model", "horizon")),
    "zl_backtest_verdicts": ("", ("model", "horizon")),
}


class PublishError(ZlflowError):
    """A frame failed its schema check before upload; nothing was uploaded."""


def _dates(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def forecast_rows(
    oos: pd.DataFrame, live: pd.DataFrame, quantiles: Sequence[float], horizon_days: int
) -> pd.DataFrame:
    """Backtest (out-of-sample, calibrated) and live forecasts in the upload schema."""
    backtest = oos.assign(kind="backtest", as_of_date=oos["trade_date"], horizon_days=horizon_days)
    live = live.assign(kind="live")
    columns = [
        "as_of_date",
        "target_date",
        "horizon",
        "horizon_days",
        "model",
        "model_version",
        "kind",
        "fold",
        "close",
    ]
    qcols = [quantile_column(q) for q in quantiles]
    extra = ["p_up", "direction_skill"]
    frame = pd.concat([backtest, live], ignore_index=True)[[*columns, *qcols, *extra]].copy()
    frame["direction_skill"] = frame["direction_skill"].astype(float)
    for q in qcols:
        frame[f"price_{q}"] = frame["close"] * np.exp(frame[q])
    frame["fold"] = frame["fold"].astype("int64")
    frame["horizon_days"] = frame["horizon_days"].astype("int64")
    return _dates(frame, ["as_of_date", "target_date"]).sort_values(
        ["as_of_date", "model"], ignore_index=True
    )


def explainer_rows(shap: pd.DataFrame) -> pd.DataFrame:
    """TreeSHAP drivers per date, model and feature, tagged with horizon and model version."""
    frame = shap.rename(columns={"date": "as_of_date"})
    frame["kind"] = np.where(frame["fold"] < 0, "live", "backtest")
    columns = [
        "as_of_date",
        "horizon",
        "model",
        "model_version",
        "kind",
        "fold",
        "feature",
        "value",
        "base_value",
    ]
    return _dates(frame[columns].copy(), ["as_of_date"])


def metric_rows(
    overall: pd.DataFrame, by_fold: pd.DataFrame, by_regime: pd.DataFrame, horizon: str
) -> pd.DataFrame:
    """Backtest metrics of models and baselines, overall, per fold and per regime."""
    parts = [
        overall.assign(scope="overall", scope_value="all"),
        by_fold.assign(scope="fold", scope_value=by_fold["fold"].astype(str)).drop(columns="fold"),
        by_regime.assign(scope="regime", scope_value=by_regime["regime"].astype(str)).drop(
            columns="regime"
        ),
    ]
    frame = pd.concat(parts, ignore_index=True).assign(horizon=horizon)
    frame["n"] = frame["n"].astype("int64")
    leading = ["horizon", "model", "scope", "scope_value", "n"]
    return frame[leading + [c for c in frame.columns if c not in leading]]


def verdict_rows(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Verdicts of every horizon in the upload schema (n as int64)."""
    frame = verdicts.copy()
    frame["n"] = frame["n"].astype("int64")
    frame["hac_lag"] = frame["hac_lag"].astype("int64")
    return frame


def _schemas(quantiles: Sequence[float]) -> dict[str, pa_schema.DataFrameSchema]:
    qcols = [quantile_column(q) for q in sorted(quantiles)]
    ordered = pa_schema.Check(
        lambda df: pd.Series(
            (np.diff(df[qcols].to_numpy(), axis=1) >= 0).all(axis=1), index=df.index
        ),
        error="quantiles must not cross",
    )
    forecast_columns = {
        "as_of_date": pa_schema.Column(object),
        "target_date": pa_schema.Column(object),
        "horizon": pa_schema.Column(str),
        "model": pa_schema.Column(str),
        "model_version": pa_schema.Column(str),
        "kind": pa_schema.Column(str, pa_schema.Check.isin(["backtest", "live"])),
        "close": pa_schema.Column(float, pa_schema.Check.gt(0)),
        "p_up": pa_schema.Column(float, pa_schema.Check.in_range(0, 1)),
    } | {q: pa_schema.Column(float) for q in qcols}
    return {
        "zl_forecasts_daily": pa_schema.DataFrameSchema(
            forecast_columns,
            checks=[
                ordered,
                pa_schema.Check(
                    lambda df: df["target_date"] > df["as_of_date"],
                    error="target_date must be after as_of_date",
                ),
            ],
        ),
        "zl_explainers_daily": pa_schema.DataFrameSchema(
            {
                "as_of_date": pa_schema.Column(object),
                "model_version": pa_schema.Column(str),
                "feature": pa_schema.Column(str),
                "value": pa_schema.Column(float),
            }
        ),
        "zl_backtest_verdicts": pa_schema.DataFrameSchema(
            {
                "horizon": pa_schema.Column(str),
                "model": pa_schema.Column(str),
                "metric": pa_schema.Column(str),
                "baseline": pa_schema.Column(str),
                "n": pa_schema.Column("int64", pa_schema.Check.gt(1)),
                "p_value": pa_schema.Column(float, pa_schema.Check.in_range(0, 1)),
                "verdict": pa_schema.Column(
                    str,
                    pa_schema.Check.isin(
                        [
                            "beats",
                            "loses",
                            "no significant difference",
                            "holds",
                            "under-covers",
                            "over-covers",
                        ]
                    ),
                ),
            }
        ),
        "zl_backtest_metrics": pa_schema.DataFrameSchema(
            {
                "model": pa_schema.Column(str),
                "scope": pa_schema.Column(str, pa_schema.Check.isin(["overall", "fold", "regime"])),
                "n": pa_schema.Column("int64", pa_schema.Check.gt(0)),
            }
        ),
    }


def check_frame(table: str, frame: pd.DataFrame, quantiles: Sequence[float]) -> None:
    """Schema and key checks before anything reaches the warehouse."""
    try:
        _schemas(quantiles)[table].validate(frame, lazy=True)
    except pa_schema.errors.SchemaErrors as err:
        cases = err.failure_cases.head(10).to_string(index=False)
        raise PublishError(f"forecasts.{table} failed its schema check:\n{cases}") from err
    duplicated = frame.duplicated(list(TABLE_KEYS[table]), keep=False)
    if duplicated.any():
        shown = frame.loc[duplicated, list(TABLE_KEYS[table])].head(10).to_string(index=False)
        raise PublishError(f"forecasts.{table} has duplicate keys:\n{shown}")


def upload(
    warehouse: Warehouse,
    table: str,
    frame: pd.DataFrame,
    quantiles: Sequence[float],
    snapshot: str | Path,
) -> MergeResult:
    """Check, snapshot and merge one table into the forecasts dataset."""
    check_frame(table, frame, quantiles)
    write_parquet_atomic(frame, snapshot)
    partition, cluster = TABLE_LAYOUT[table]
    return warehouse.merge_parquet(
        "forecasts", table, Path(snapshot), TABLE_KEYS[table], partition or None, cluster
    )
