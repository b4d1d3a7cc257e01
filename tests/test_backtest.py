"""Backtest steps on the real sample: no leakage, determinism, tuning before the first test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from zlflow.backtest import FitSettings, LiveSettings, fit_fold, live_forecast
from zlflow.baselines import BASELINE_MODELS, fold_baselines
from zlflow.calibrate import CalibrationSettings
from zlflow.ensemble import EnsembleError
from zlflow.explain import LIVE_FOLD
from zlflow.export import feature_columns
from zlflow.folds import FoldSpec, fold_rows, fold_table, fold_table_sidecar, make_folds
from zlflow.forecast import (
    EnsembleSettings,
    ForecastSettings,
    calibrated_backtest,
    calibrated_baselines,
    ensemble_forecast,
)
from zlflow.loading import write_parquet_atomic
from zlflow.models.base import quantile_column
from zlflow.scorecard import ScoreSettings, scorecard
from zlflow.tuning import TuneSettings, tune, tuning_rows
from zlflow.warehouse.duckdb import DuckDBWarehouse

QUANTILES = [0.05, 0.1, 0.5, 0.9, 0.95]
PARAMS = {"num_boost_round": 60, "num_leaves": 7, "learning_rate": 0.05}
SPEC = FoldSpec.from_config(
    {
        "window": "expanding",
        "first_test_start": "2020-01-02",
        "test_sessions": 126,
        "step_sessions": 126,
        "min_train_sessions": 750,
        "max_folds": 3,
    }
)


@pytest.fixture(scope="module")
def training(built_warehouse: Path, config: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    with DuckDBWarehouse(built_warehouse, config["datasets"]) as wh:
        frame = wh.query_arrow("SELECT * FROM ${training}.vw_zl_1m_v1").to_pandas()
    for column in ("trade_date", "target_date"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    frame = frame.sort_values("trade_date").reset_index(drop=True)
    return frame, feature_columns(list(frame.columns))


@pytest.fixture(scope="module")
def folds(training: tuple[pd.DataFrame, list[str]]) -> pd.DataFrame:
    return make_folds(training[0], SPEC, 21)


SETTINGS = FitSettings("lgbm", "1m", tuple(QUANTILES), seed=7, threads=1, params=PARAMS)


def run_fold(
    frame: pd.DataFrame, features: list[str], fold: dict[str, Any], out: Path
) -> pd.DataFrame:
    """One fold fit, saved and written under ``out`` as the job does; its predictions."""
    fit = fit_fold(frame, features, fold, SETTINGS, data_sha="fixed")
    fit.model.save(out / "model")
    write_parquet_atomic(fit.predictions, out / "pred.parquet")
    write_parquet_atomic(fit.shap, out / "shap.parquet")
    return fit.predictions


def model_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_purge_is_at_least_the_horizon_on_the_real_sample(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame
) -> None:
    frame, _ = training
    for fold in folds.to_dict("records"):
        train, test = fold_rows(frame, fold)
        assert train["target_date"].max() < test["trade_date"].min()
        assert fold["purged_rows"] >= 21


def test_changing_every_row_after_train_end_leaves_the_model_unchanged(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame, tmp_path: Path
) -> None:
    frame, features = training
    fold = folds.iloc[1].to_dict()
    before = run_fold(frame, features, fold, tmp_path / "a")
    later = frame["trade_date"] > fold["train_end"]
    rng = np.random.default_rng(0)
    # Shuffle every feature and target of the rows after the train end.
    altered = frame.copy()
    shuffled = rng.permutation(np.flatnonzero(later))
    for column in [*features, "target_log_return"]:
        altered.loc[later, column] = frame[column].to_numpy()[shuffled]
    run_fold(altered, features, fold, tmp_path / "b")
    assert model_bytes(tmp_path / "a" / "model") == model_bytes(tmp_path / "b" / "model")
    # Changing only the future's targets leaves the predictions identical too.
    targets_only = frame.copy()
    targets_only.loc[later, "target_log_return"] = rng.normal(0, 0.5, later.sum())
    after = run_fold(targets_only, features, fold, tmp_path / "c")
    pd.testing.assert_frame_equal(before.drop(columns="y_true"), after.drop(columns="y_true"))


def test_two_fits_with_the_same_config_are_identical(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame, tmp_path: Path
) -> None:
    frame, features = training
    fold = folds.iloc[0].to_dict()
    first = run_fold(frame, features, fold, tmp_path / "a")
    second = run_fold(frame, features, fold, tmp_path / "b")
    pd.testing.assert_frame_equal(first, second)
    assert (tmp_path / "a" / "pred.parquet").read_bytes() == (
        tmp_path / "b" / "pred.parquet"
    ).read_bytes()
    assert (tmp_path / "a" / "shap.parquet").read_bytes() == (
        tmp_path / "b" / "shap.parquet"
    ).read_bytes()


def test_tuning_never_reads_rows_from_the_first_test_window_on(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame, tmp_path: Path
) -> None:
    frame, features = training
    cutoff = folds["test_start"].min()
    train, valid = tuning_rows(frame, cutoff, 126)
    assert valid["target_date"].max() < cutoff
    assert train["target_date"].max() < valid["trade_date"].min()

    def run(data: pd.DataFrame, storage: Path) -> dict[str, Any]:
        settings = TuneSettings("lgbm", tuple(QUANTILES), 3, 2, 126)
        return tune(data, features, cutoff, settings, storage)

    first = run(frame, tmp_path / "a.sqlite3")
    altered = frame.copy()
    after = altered["target_date"].isna() | (altered["target_date"] >= cutoff)
    altered.loc[after, features] = 0.0
    altered.loc[after, "target_log_return"] = 9.9
    second = run(altered, tmp_path / "b.sqlite3")
    assert first["params"] == second["params"]
    assert first["best_value"] == second["best_value"]
    assert first["study"] == second["study"]
    # The study resumes instead of starting over.
    again = run(frame, tmp_path / "a.sqlite3")
    assert again["trials"] == 2 and again["params"] == first["params"]


def test_fixed_parameters_win_over_tuning_and_start_their_own_study(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame, tmp_path: Path
) -> None:
    frame, features = training
    storage = tmp_path / "study.sqlite3"

    def run(fixed: dict[str, Any] | None) -> dict[str, Any]:
        settings = TuneSettings("lgbm", tuple(QUANTILES), 3, 1, 126, fixed=fixed or {})
        return tune(frame, features, folds["test_start"].min(), settings, storage)

    free = run(None)
    pinned = run({"num_leaves": 5, "lambda_l2": 3.0})
    assert pinned["params"]["num_leaves"] == 5 and pinned["params"]["lambda_l2"] == 3.0
    assert pinned["study"] != free["study"] and pinned["trials"] == 1


@pytest.fixture(scope="module")
def history(
    training: tuple[pd.DataFrame, list[str]],
    folds: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> pd.DataFrame:
    """Every fold's predictions, calibrated as the calibrate job does."""
    frame, features = training
    out = tmp_path_factory.mktemp("folds")
    oos = pd.concat(
        [run_fold(frame, features, f, out / f"f{f['fold']}") for f in folds.to_dict("records")]
    )
    return calibrated_backtest(frame, oos, HORIZON)


HORIZON = ForecastSettings("1m", 21, tuple(QUANTILES), CalibrationSettings(min_history=50))
LIVE = LiveSettings(SETTINGS, HORIZON, "CBOT_Agriculture")


def test_live_forecast_trains_on_known_targets_and_is_calibrated(
    training: tuple[pd.DataFrame, list[str]], history: pd.DataFrame
) -> None:
    frame, features = training
    fit, forecast = live_forecast(frame, features, history, LIVE, data_sha="fixed")
    assert fit.version == forecast["model_version"].iloc[0]
    assert len(fit.shap) == len(features)  # the latest row's driver per feature
    assert forecast["target_date"].iloc[0] > forecast["as_of_date"].iloc[0]
    assert len(forecast) == 1
    row = forecast.iloc[0]
    assert row["as_of_date"] == frame["trade_date"].max()
    assert bool(row["calibrated"])
    assert row["q5"] <= row["q10"] <= row["q50"] <= row["q90"] <= row["q95"]
    assert row["price_q50"] == pytest.approx(row["close"] * np.exp(row["q50"]))
    # Calibrated from every out-of-sample outcome matured by the live date, like a backtest row.
    assert row["matured"] == (history["target_date"] <= row["trade_date"]).sum()
    assert 0.0 <= row["direction_weight"] <= 1.0
    assert row["p_up"] == pytest.approx(
        row["p_up_climatology"]
        + row["direction_weight"] * (row["raw_p_up"] - row["p_up_climatology"])
    )


def test_baselines_use_each_folds_training_rows(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame
) -> None:
    frame, _ = training
    baselines = fold_baselines(frame, folds, QUANTILES, "1m", 21)
    assert set(baselines["model"]) == {"random_walk", "drift", "climatology", "garch"}
    backtest = baselines[baselines["fold"] != LIVE_FOLD]
    assert len(backtest) == 4 * folds["test_rows"].sum()
    assert (baselines.loc[baselines["model"] == "random_walk", "q50"] == 0).all()
    live = baselines[baselines["fold"] == LIVE_FOLD]
    assert len(live) == 4 and (live["trade_date"] == frame["trade_date"].max()).all()
    # GARCH bands move with volatility from day to day; the others are fixed per fold.
    garch = backtest[backtest["model"] == "garch"]
    assert garch.groupby("fold")["q95"].nunique().min() > 100


def test_a_horizon_from_fold_predictions_to_its_scorecard(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame, history: pd.DataFrame
) -> None:
    """The calibrate, baselines, ensemble and metrics jobs' domain steps, one after another."""
    frame, features = training
    _, live = live_forecast(frame, features, history, LIVE, data_sha="fixed")
    baselines = calibrated_baselines(frame, folds, HORIZON)
    # Intervals are calibrated like a model's; a baseline's p_up is its definition.
    assert baselines["calibrated"].any()
    assert (baselines["p_up"] == baselines["raw_p_up"]).all()
    assert (baselines.loc[baselines["model"] == "random_walk", "p_up"] == 0.5).all()

    members = ("lgbm", "random_walk", "climatology", "garch")
    settings = EnsembleSettings(HORIZON, members, window=252)
    forecasts = pd.concat([history, live, baselines], ignore_index=True)
    ensemble = ensemble_forecast(forecasts, settings)
    assert (ensemble.backtest["fold"] != LIVE_FOLD).all()
    assert len(ensemble.forecast) == 1
    # The live target date is the model's, worked out from the exchange calendar.
    assert ensemble.forecast["target_date"].iloc[0] == live["target_date"].iloc[0]
    assert {f"weight_{m}" for m in members} <= set(ensemble.combined.columns)
    # The members' bands are calibrated already: the ensemble's are their weighted average.
    bands = [quantile_column(q) for q in QUANTILES]
    averaged = ensemble.combined[ensemble.combined["fold"] != LIVE_FOLD].sort_values("trade_date")
    np.testing.assert_array_equal(
        ensemble.backtest.sort_values("trade_date")[bands].to_numpy(), averaged[bands].to_numpy()
    )
    with pytest.raises(EnsembleError, match=r"ensemble members \['tft'\] have no forecasts"):
        ensemble_forecast(forecasts, EnsembleSettings(HORIZON, (*members, "tft"), 252))
    # A second model whose live row targets another date: the members disagree.
    other = pd.concat([history, live]).assign(model="other")
    other.loc[other["fold"] == LIVE_FOLD, "target_date"] += pd.Timedelta(days=1)
    with pytest.raises(EnsembleError, match="live forecasts disagree"):
        ensemble_forecast(
            pd.concat([forecasts, other], ignore_index=True),
            EnsembleSettings(HORIZON, (*members, "other"), 252),
        )

    oos = pd.concat([history, ensemble.backtest, ensemble.forecast, baselines])
    card = scorecard(oos, ScoreSettings("1m", 21, tuple(QUANTILES), seed=7))
    # Fold 0 is where calibration learns: it is in the by-fold table, not in the scores.
    assert set(card.by_fold["fold"]) == {0, 1, 2}
    scored = history[(history["fold"] >= 1) & history["y_true"].notna()]
    assert card.overall.set_index("model").loc["lgbm", "n"] == len(scored)
    assert set(card.overall["model"]) == {"lgbm", "ensemble", *BASELINE_MODELS}
    assert {"lgbm", "ensemble"} <= set(card.verdicts["model"])
    assert card.summary[0].startswith("Horizon 1m (21 sessions): out-of-sample folds 1..2,")
    assert set(card.tables()) == {
        "overall",
        "by_fold",
        "by_regime",
        "verdicts",
        "reliability",
        "pit",
    }


def test_settings_from_the_rules_params(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame
) -> None:
    """What the scripts build from a rule's params: the sequence model gets its horizon."""
    params = {"quantiles": QUANTILES, "seed": 7}
    tuning = {"n_trials": 3, "timeout_s": None, "validation_sessions": 126}
    tft = TuneSettings.from_rule("tft", 21, params, tuning, {"hidden_size": 8}, threads=2)
    assert tft.fixed == {"hidden_size": 8, "horizon": 21}
    assert (tft.quantiles, tft.seed, tft.n_trials, tft.threads) == (tuple(QUANTILES), 7, 3, 2)
    assert TuneSettings.from_rule("lgbm", 21, params, tuning, {}, threads=1).fixed == {}
    live = LiveSettings.from_rule(
        "lgbm", "1m", 21, params, {"min_history": 50}, "CBOT_Agriculture", threads=1
    )
    assert live.fit == FitSettings("lgbm", "1m", tuple(QUANTILES), 7, 1)
    assert live.forecast == HORIZON and live.exchange == "CBOT_Agriculture"


def test_the_tuning_fingerprint_covers_only_rows_tuning_may_see(
    training: tuple[pd.DataFrame, list[str]], folds: pd.DataFrame
) -> None:
    frame, features = training
    table, sidecar = fold_table(frame, SPEC, 21)
    pd.testing.assert_frame_equal(table, folds)
    assert sidecar["folds"] == len(folds)
    assert sidecar["tuning_cutoff"] == str(folds["test_start"].min().date())
    cutoff = folds["test_start"].min()
    later = frame.copy()
    after = later["target_date"].isna() | (later["target_date"] >= cutoff)
    later.loc[after, features[0]] += 1.0
    assert fold_table_sidecar(later, folds) == sidecar
    earlier = frame.copy()
    earlier.loc[earlier.index[0], features[0]] += 1.0
    assert fold_table_sidecar(earlier, folds)["tuning_fingerprint"] != sidecar["tuning_fingerprint"]
