"""Scores against hand-computed values, baselines from training rows only, plain verdicts."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from zlflow.metrics import (
    MetricsError,
    baseline_predictions,
    brier,
    coverage,
    directional_accuracy,
    evaluate,
    interval_levels,
    log_loss,
    mae,
    pinball_loss,
    rmse,
    skill_summary,
)

QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)
COLUMNS = ["q5", "q10", "q50", "q90", "q95"]


def test_point_and_quantile_scores_by_hand() -> None:
    y, pred = [0.0, 1.0, -1.0], [0.5, 0.5, 0.5]
    # y - pred = [-0.5, 0.5, -1.5]
    assert pinball_loss(y, pred, 0.1) == pytest.approx((0.45 + 0.05 + 1.35) / 3)
    assert pinball_loss(y, pred, 0.5) == pytest.approx((0.25 + 0.25 + 0.75) / 3)
    assert pinball_loss(y, pred, 0.9) == pytest.approx((0.05 + 0.45 + 0.15) / 3)
    assert mae(y, pred) == pytest.approx(2.5 / 3)
    assert rmse(y, pred) == pytest.approx(math.sqrt(2.75 / 3))


def test_interval_and_direction_scores_by_hand() -> None:
    # Closed interval: 0 and 1 are inside, -1 and 2 are not.
    assert coverage([0.0, 1.0, -1.0, 2.0], [-1, 0, 0, 1], [1, 1, 1, 1.5]) == 0.5
    assert brier([1, 0, 1], [0.8, 0.3, 0.5]) == pytest.approx((0.04 + 0.09 + 0.25) / 3)
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.5)) / 3
    assert log_loss([1, 0, 1], [0.8, 0.3, 0.5]) == pytest.approx(expected)
    assert log_loss([1], [0.0]) == pytest.approx(-math.log(1e-12))
    # p_up = 0.5 is not a call for "up".
    assert directional_accuracy([0.1, -0.2, 0.3, -0.1, 0.2], [0.6, 0.4, 0.4, 0.7, 0.5]) == 0.4
    assert interval_levels(QUANTILES) == [80, 90]
    with pytest.raises(MetricsError, match="different lengths"):
        mae([1.0, 2.0], [1.0])
    with pytest.raises(MetricsError, match="empty"):
        brier([], [])


def prediction_rows() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b"],
            "fold": [1, 1, 2, 1],
            "y_true": [0.02, -0.01, np.nan, 0.03],
            "q5": -0.04,
            "q10": -0.02,
            "q50": 0.0,
            "q90": 0.02,
            "q95": 0.04,
            "p_up": [0.6, 0.6, 0.6, 0.4],
        }
    )
    return frame


def test_evaluate_groups_and_ignores_unknown_targets() -> None:
    metrics = evaluate(prediction_rows(), QUANTILES, ["model"])
    assert metrics["model"].tolist() == ["a", "b"]
    assert metrics["n"].tolist() == [2, 1]
    a = metrics.iloc[0]
    assert a["mae"] == pytest.approx(0.015)
    assert a["rmse"] == pytest.approx(math.sqrt((0.02**2 + 0.01**2) / 2))
    assert a["coverage_80"] == 1.0 and a["coverage_90"] == 1.0
    assert metrics.iloc[1]["coverage_80"] == 0.0 and metrics.iloc[1]["coverage_90"] == 1.0
    assert a["pinball_q50"] == pytest.approx(0.5 * 0.015)
    per_q = a[[f"pinball_{c}" for c in COLUMNS]].to_numpy(dtype=float)
    assert a["pinball_mean"] == pytest.approx(per_q.mean())
    assert a["brier"] == pytest.approx((0.16 + 0.36) / 2)
    assert a["directional_accuracy"] == 0.5
    assert len(evaluate(prediction_rows(), QUANTILES, [])) == 1
    by_fold = evaluate(prediction_rows(), QUANTILES, ["model", "fold"])
    assert by_fold[["model", "fold"]].values.tolist() == [["a", 1], ["b", 1]]


def split(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=300)
    frame = pd.DataFrame(
        {
            "trade_date": dates,
            "target_date": dates + pd.Timedelta(days=30),
            "target_log_return": rng.normal(0.004, 0.03, len(dates)),
        }
    )
    return frame.iloc[:250].reset_index(drop=True), frame.iloc[250:].reset_index(drop=True)


def test_baselines_follow_their_definitions() -> None:
    train, test = split()
    out = baseline_predictions(train, test, QUANTILES, fold=4, horizon="1m")
    assert sorted(out["model"].unique()) == ["climatology", "drift", "random_walk"]
    assert (out["fold"] == 4).all() and out["fold"].dtype == np.int64
    assert (out["horizon"] == "1m").all()
    y = train["target_log_return"].to_numpy()
    empirical = np.quantile(y, QUANTILES)
    spread = empirical - np.median(y)
    rows = {m: out[out["model"] == m].iloc[0] for m in out["model"].unique()}
    np.testing.assert_allclose(rows["random_walk"][COLUMNS].to_numpy(float), spread)
    assert rows["random_walk"]["q50"] == 0.0 and rows["random_walk"]["p_up"] == 0.5
    np.testing.assert_allclose(rows["drift"][COLUMNS].to_numpy(float), y.mean() + spread)
    assert rows["drift"]["p_up"] == pytest.approx(NormalDist().cdf(y.mean() / y.std(ddof=1)))
    np.testing.assert_allclose(rows["climatology"][COLUMNS].to_numpy(float), empirical)
    assert rows["climatology"]["p_up"] == pytest.approx((y > 0).mean())
    walk = out[out["model"] == "random_walk"]
    np.testing.assert_array_equal(walk["y_true"], test["target_log_return"])
    np.testing.assert_array_equal(walk["trade_date"], test["trade_date"])


def test_baselines_use_only_training_rows() -> None:
    train, test = split()
    base = baseline_predictions(train, test, QUANTILES, fold=1, horizon="1m")
    shuffled_test = test.assign(target_log_return=test["target_log_return"] * -3.0 + 0.5)
    again = baseline_predictions(train, shuffled_test, QUANTILES, fold=1, horizon="1m")
    predicted = [*COLUMNS, "p_up"]
    pd.testing.assert_frame_equal(base[predicted], again[predicted])
    moved_train = train.assign(target_log_return=train["target_log_return"] * 2.0 + 0.01)
    moved = baseline_predictions(moved_train, test, QUANTILES, fold=1, horizon="1m")
    for model in ("random_walk", "drift", "climatology"):
        rows = base["model"] == model
        assert not np.allclose(base.loc[rows, "q90"], moved.loc[rows, "q90"])
    with pytest.raises(MetricsError, match="at least 2"):
        baseline_predictions(train.iloc[:1], test, QUANTILES, fold=1, horizon="1m")


def metrics_table(pinball: float, mae_: float, brier_: float, accuracy: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["lgbm", "random_walk"],
            "pinball_mean": [pinball, 0.0305],
            "mae": [mae_, 0.0400],
            "brier": [brier_, 0.2500],
            "directional_accuracy": [accuracy, 0.52],
        }
    )


def test_skill_summary_says_plainly_when_a_model_is_worse() -> None:
    lines = skill_summary(metrics_table(0.0312, 0.0410, 0.2600, 0.50), "lgbm")
    assert lines[0] == (
        "lgbm does NOT beat the random walk on mean pinball loss (0.0312 vs 0.0305)."
    )
    assert len(lines) == 4 and all("does NOT beat" in line for line in lines)


def test_skill_summary_says_beats_when_better() -> None:
    lines = skill_summary(metrics_table(0.0300, 0.0390, 0.2400, 0.55), "lgbm")
    assert lines[0] == "lgbm beats the random walk on mean pinball loss (0.0300 vs 0.0305)."
    assert all(" beats " in line and "NOT" not in line for line in lines)
    assert lines[3] == "lgbm beats the random walk on directional accuracy (55.0% vs 52.0%)."
    # A tie is not a win.
    tie = skill_summary(metrics_table(0.0305, 0.0390, 0.2400, 0.55), "lgbm")
    assert "does NOT beat" in tie[0]
    with pytest.raises(MetricsError, match="one metrics row"):
        skill_summary(metrics_table(0.03, 0.04, 0.25, 0.5), "lgbm", "climatology")
