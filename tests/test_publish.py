"""Uploads merge idempotently, a bad upload changes nothing, API views answer as documented."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from zlflow.errors import ZlflowError
from zlflow.objects import sql_objects
from zlflow.publish import (
    PublishError,
    explainer_rows,
    forecast_rows,
    metric_rows,
    upload,
    verdict_rows,
)
from zlflow.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]
QUANTILES = [0.025, 0.05, 0.1, 0.5, 0.9, 0.95, 0.975]
QCOLS = ["q2_5", "q5", "q10", "q50", "q90", "q95", "q97_5"]


def predictions(frame: pd.DataFrame, model: str, p_up: float, fold: int) -> pd.DataFrame:
    """Forecast rows in the pipeline's schema for the given feature rows."""
    spread = np.array([-0.1, -0.08, -0.06, 0.0, 0.06, 0.08, 0.1])
    out = pd.DataFrame(
        {
            "trade_date": frame["trade_date"].to_numpy(),
            "target_date": frame["target_date"].to_numpy(),
            "fold": fold,
            "model": model,
            "model_version": f"{model}-v1",
            "horizon": "1m",
            "y_true": frame["target_log_return"].to_numpy(),
            "close": frame["close"].to_numpy(),
            "p_up": p_up,
            "direction_skill": np.nan,
        }
    )
    for column, offset in zip(QCOLS, spread, strict=True):
        out[column] = offset
    return out


def verdicts() -> pd.DataFrame:
    """Two verdict rows per metric the summary view pivots, as verdict_table writes them."""
    rows = []
    for metric, baseline, p_value, verdict in (
        ("crps", "random_walk", 0.46, "no significant difference"),
        ("abs_error", "random_walk", 0.03, "beats"),
        ("brier", "climatology", 0.01, "loses"),
        ("brier", "random_walk", 0.2, "no significant difference"),
        ("directional_accuracy", "majority direction", 0.5, "no significant difference"),
        ("coverage_80", "nominal", 0.4, "holds"),
        ("coverage_95", "nominal", 0.01, "under-covers"),
    ):
        rows.append(
            {
                "horizon": "1m",
                "model": "lgbm",
                "metric": metric,
                "label": metric,
                "baseline": baseline,
                "n": 60,
                "value": 0.9,
                "baseline_value": 0.95 if baseline == "nominal" else 1.0,
                "difference": -0.05,
                "ci_low": 0.85,
                "ci_high": 0.93,
                "statistic": -1.0,
                "p_value": p_value,
                "hac_lag": 24,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def publish_all(
    wh: DuckDBWarehouse, tmp: Path, p_up_live: float = 0.8, skill: float = 0.02
) -> dict[str, Any]:
    view = wh.query_arrow("SELECT * FROM ${training}.vw_zl_1m_v1 ORDER BY trade_date").to_pandas()
    for column in ("trade_date", "target_date"):
        view[column] = pd.to_datetime(view[column])
    test = view[(view["split"] == "test")].tail(60)
    live_rows = view.tail(1).assign(target_date=view["trade_date"].max() + pd.Timedelta(days=31))
    oos = predictions(test, "lgbm", 0.55, 0)
    live = predictions(live_rows, "lgbm", p_up_live, -1).assign(
        as_of_date=live_rows["trade_date"].to_numpy(), horizon_days=21, direction_skill=skill
    )
    forecasts = forecast_rows(oos, live, QUANTILES, 21)
    shap = pd.DataFrame(
        {
            "date": np.repeat(live_rows["trade_date"].to_numpy(), 3),
            "model": "lgbm",
            "fold": -1,
            "feature": ["dgs10", "rsi_14", "oil_share"],
            "value": [0.003, -0.001, 0.0005],
            "base_value": 0.001,
            "horizon": "1m",
            "model_version": "lgbm-v1",
        }
    )
    metrics = pd.DataFrame(
        {
            "model": ["lgbm", "random_walk"],
            "n": [60, 60],
            "mae": [0.05, 0.06],
            "rmse": [0.07, 0.08],
            "crps": [0.022, 0.024],
            "pinball_mean": [0.011, 0.012],
            "interval_score_80": [0.2, 0.21],
            "interval_score_95": [0.3, 0.31],
            "coverage_80": [0.8, 0.78],
            "coverage_90": [0.9, 0.88],
            "coverage_95": [0.95, 0.93],
            "brier": [0.24, 0.25],
            "brier_reliability": [0.01, 0.0],
            "brier_resolution": [0.02, 0.0],
            "log_loss": [0.68, 0.69],
            "directional_accuracy": [0.55, 0.5],
        }
    )
    by_fold = metrics.assign(fold=0)
    by_regime = metrics.assign(regime="post_spike_normalisation")
    results = {
        "zl_forecasts_daily": upload(
            wh, "zl_forecasts_daily", forecasts, QUANTILES, tmp / "f.parquet"
        ),
        "zl_explainers_daily": upload(
            wh, "zl_explainers_daily", explainer_rows(shap), QUANTILES, tmp / "e.parquet"
        ),
        "zl_backtest_metrics": upload(
            wh,
            "zl_backtest_metrics",
            metric_rows(metrics, by_fold, by_regime, "1m"),
            QUANTILES,
            tmp / "m.parquet",
        ),
        "zl_backtest_verdicts": upload(
            wh, "zl_backtest_verdicts", verdict_rows(verdicts()), QUANTILES, tmp / "v.parquet"
        ),
    }
    return {"results": results, "forecasts": forecasts}


def deploy_api(wh: DuckDBWarehouse) -> None:
    objects = sql_objects(ROOT / "sql", {"1m": 21})
    for key in (
        "api.vw_zl_latest_forecast",
        "api.vw_zl_forecast_history",
        "api.vw_zl_top_drivers",
        "api.vw_zl_backtest_summary",
        "api.vw_zl_backtest_verdicts",
        "api.vw_zl_alerts",
    ):
        wh.deploy(objects[key])


@pytest.fixture
def scratch(
    built_warehouse: Path, config: dict[str, Any], tmp_path: Path
) -> Iterator[DuckDBWarehouse]:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(built_warehouse, copy)
    with DuckDBWarehouse(copy, config["datasets"]) as wh:
        yield wh


def test_uploading_twice_adds_no_rows(scratch: DuckDBWarehouse, tmp_path: Path) -> None:
    first = publish_all(scratch, tmp_path)["results"]
    assert all(r.inserted == r.rows > 0 for r in first.values())
    second = publish_all(scratch, tmp_path)["results"]
    for table, result in second.items():
        assert (result.inserted, result.updated) == (0, 0), table
        assert result.unchanged == result.rows == first[table].rows


def test_a_revised_forecast_replaces_the_old_row(scratch: DuckDBWarehouse, tmp_path: Path) -> None:
    publish_all(scratch, tmp_path, p_up_live=0.8)
    again = publish_all(scratch, tmp_path, p_up_live=0.7)["results"]["zl_forecasts_daily"]
    assert (again.inserted, again.updated) == (0, 1)


def test_a_bad_upload_leaves_the_table_unchanged(scratch: DuckDBWarehouse, tmp_path: Path) -> None:
    published = publish_all(scratch, tmp_path)
    before = scratch.query_arrow(
        "SELECT * FROM ${forecasts}.zl_forecasts_daily ORDER BY as_of_date, model_version"
    )
    crossing = published["forecasts"].copy()
    crossing.loc[0, "q2_5"] = 0.5
    with pytest.raises(PublishError, match="quantiles must not cross"):
        upload(scratch, "zl_forecasts_daily", crossing, QUANTILES, tmp_path / "bad.parquet")
    retyped = published["forecasts"].assign(fold=published["forecasts"]["fold"].astype(str))
    with pytest.raises(ZlflowError, match="does not match forecasts"):
        upload(scratch, "zl_forecasts_daily", retyped, QUANTILES, tmp_path / "bad.parquet")
    duplicated = pd.concat([published["forecasts"], published["forecasts"].head(1)])
    with pytest.raises(PublishError, match="duplicate keys"):
        upload(scratch, "zl_forecasts_daily", duplicated, QUANTILES, tmp_path / "bad.parquet")
    after = scratch.query_arrow(
        "SELECT * FROM ${forecasts}.zl_forecasts_daily ORDER BY as_of_date, model_version"
    )
    assert after.equals(before)


def test_api_views_answer_as_documented(scratch: DuckDBWarehouse, tmp_path: Path) -> None:
    publish_all(scratch, tmp_path, p_up_live=0.8)
    deploy_api(scratch)
    latest = scratch.query_arrow("SELECT * FROM ${api}.vw_zl_latest_forecast").to_pandas()
    assert len(latest) == 1 and latest["p_up"].iloc[0] == 0.8
    assert latest["lower_95_price"].iloc[0] < latest["median_price"].iloc[0]
    history = scratch.query_arrow("SELECT * FROM ${api}.vw_zl_forecast_history").to_pandas()
    assert len(history) == 61
    backtest = history[history["kind"] == "backtest"]
    assert backtest["realised_log_return"].notna().all()
    expected = backtest["realised_log_return"].between(-0.1, 0.1)
    assert (backtest["inside_95"] == expected).all()
    drivers = scratch.query_arrow(
        "SELECT * FROM ${api}.vw_zl_top_drivers ORDER BY rank"
    ).to_pandas()
    assert drivers["feature"].tolist() == ["dgs10", "rsi_14", "oil_share"]
    assert latest["direction_skill"].iloc[0] == 0.02 and latest["direction_skilled"].iloc[0]
    summary = scratch.query_arrow("SELECT * FROM ${api}.vw_zl_backtest_summary").to_pandas()
    summary = summary.set_index("model")
    lgbm = summary.loc["lgbm"]
    # One verdict per metric with its p-value; no single flag speaks for the model.
    assert "beats_random_walk" not in summary.columns
    assert lgbm["crps_vs_random_walk"] == "no significant difference"
    assert lgbm["crps_p_value_vs_random_walk"] == 0.46
    assert lgbm["mae_vs_random_walk"] == "beats"
    assert lgbm["brier_vs_climatology"] == "loses" and lgbm["brier_p_value_vs_climatology"] == 0.01
    assert lgbm["brier_vs_coin"] == "no significant difference"
    assert lgbm["coverage_80_nominal"] == 0.8 and lgbm["coverage_80_verdict"] == "holds"
    assert lgbm["coverage_95_verdict"] == "under-covers"
    assert (lgbm["coverage_95_low"], lgbm["coverage_95_high"]) == (0.85, 0.93)
    assert not lgbm["is_baseline"] and summary.loc["random_walk"]["is_baseline"]
    # Baselines have no verdict rows here: their verdict columns are empty, not invented.
    assert pd.isna(summary.loc["random_walk"]["crps_vs_random_walk"])
    every = scratch.query_arrow("SELECT * FROM ${api}.vw_zl_backtest_verdicts").to_pandas()
    assert len(every) == 7 and set(every["verdict"]) >= {"beats", "loses", "holds"}


def test_alerts_cover_direction_stale_data_and_assertions(
    scratch: DuckDBWarehouse, tmp_path: Path
) -> None:
    publish_all(scratch, tmp_path, p_up_live=0.8)
    deploy_api(scratch)
    alerts = scratch.query_arrow("SELECT * FROM ${api}.vw_zl_alerts").to_pandas()
    kinds = set(alerts["alert_type"])
    assert "direction_signal" in kinds  # p_up 0.8 >= 0.65
    assert "stale_data" in kinds  # the sample ends in 2024
    assert not kinds & {"assertion_failed", "assertion_skipped"}
    scratch.execute("UPDATE market_data.cfg_alerts SET as_of_date = TIMESTAMP '2024-06-24'")
    scratch.execute(
        "UPDATE market_data.assertion_results SET status = 'failed', offending_rows = 3 "
        "WHERE assertion = 'staging_price_bounds'"
    )
    scratch.execute(
        "DELETE FROM market_data.assertion_results WHERE assertion = 'layer_row_counts'"
    )
    alerts = scratch.query_arrow("SELECT * FROM ${api}.vw_zl_alerts").to_pandas()
    messages = " | ".join(alerts["message"])
    assert "stale_data" not in set(alerts["alert_type"])  # one session after the last bar
    assert "staging_price_bounds failed with 3 offending row(s)" in messages
    assert "layer_row_counts has not run" in messages
    assert "probability of a rise is 0.80" in messages


def test_a_strong_but_unskilled_direction_is_not_a_signal(
    scratch: DuckDBWarehouse, tmp_path: Path
) -> None:
    for skill in (-0.01, float("nan")):
        publish_all(scratch, tmp_path, p_up_live=0.8, skill=skill)
        deploy_api(scratch)
        alerts = scratch.query_arrow("SELECT * FROM ${api}.vw_zl_alerts").to_pandas()
        kinds = set(alerts["alert_type"])
        assert "direction_signal" not in kinds and "direction_unskilled" in kinds
        message = alerts.loc[alerts["alert_type"] == "direction_unskilled", "message"].iloc[0]
        assert "unskilled, not a signal" in message
        assert ("(-0.010)" if skill == skill else "too few earlier outcomes") in message
