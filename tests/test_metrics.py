"""Scores against hand-computed values: point, quantile, CRPS, interval, Brier, direction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from zlflow.metrics import (
    MetricsError,
    brier,
    brier_decomposition,
    coverage,
    crps_rows,
    directional_accuracy,
    evaluate,
    interval_levels,
    interval_score_rows,
    log_loss,
    mae,
    pinball_loss,
    rmse,
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
    # p_up = 0.5 is no call: it counts half, so a coin scores 50% whatever the base rate.
    assert directional_accuracy([0.1, -0.2, 0.3, -0.1, 0.2], [0.6, 0.4, 0.4, 0.7, 0.5]) == 0.5
    assert directional_accuracy([-0.1, -0.2, -0.3], [0.5, 0.5, 0.5]) == 0.5
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


def test_crps_from_quantiles_and_interval_score_by_hand() -> None:
    quantiles = (0.1, 0.5, 0.9)
    values = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])
    y = np.array([0.5, np.nan])
    # pinball: q0.1 (y-(-1))*0.1 = 0.15; q0.5 0.5*0.5 = 0.25; q0.9 (1-0.5)*0.1 = 0.05
    # quantile CRPS = 2 * mean = 2 * 0.45 / 3 = 0.3
    out = crps_rows(y, values, quantiles)
    assert out[0] == pytest.approx(0.3) and np.isnan(out[1])
    # Winkler 80%: width 2, plus 2/0.2 times the distance outside.
    scores = interval_score_rows([0.0, 1.5, -2.0], [-1, -1, -1], [1, 1, 1], 0.8)
    np.testing.assert_allclose(scores, [2.0, 2.0 + 10 * 0.5, 2.0 + 10 * 1.0])
    with pytest.raises(MetricsError, match="do not match"):
        crps_rows(y, values[:, :2], quantiles)


def test_crps_and_interval_score_equal_scoringrules_bit_for_bit() -> None:
    """The numpy scores are scoringrules' (numpy backend), which the jobs no longer import
    (it compiles numba functions at import): the reference, over random forecasts."""
    import scoringrules

    rng = np.random.default_rng(7)
    quantiles = np.array([0.025, 0.05, 0.1, 0.5, 0.9, 0.95, 0.975])
    values = np.sort(rng.normal(0, 0.05, (2000, len(quantiles))), axis=1)
    y = rng.normal(0, 0.06, 2000)
    expected = scoringrules.crps_quantile(y, values, quantiles, backend="numpy")
    assert np.array_equal(crps_rows(y, values, quantiles), expected)
    for level, (lo, hi) in ((0.8, (2, 4)), (0.95, (0, 6))):
        expected = scoringrules.interval_score(
            y, values[:, lo], values[:, hi], 1.0 - level, backend="numpy"
        )
        assert np.array_equal(interval_score_rows(y, values[:, lo], values[:, hi], level), expected)


def test_brier_decomposition_adds_up() -> None:
    rng = np.random.default_rng(1)
    p = (np.floor(rng.uniform(0, 1, 5000) * 10) + 0.5) / 10  # one value per bin
    y = (rng.uniform(0, 1, 5000) < p).astype(float)
    reliability, resolution, uncertainty = brier_decomposition(y, p)
    assert brier(y, p) == pytest.approx(reliability - resolution + uncertainty, abs=1e-12)
    assert reliability < 0.01 < resolution
    # Climatology has no resolution.
    flat = np.full(5000, y.mean())
    assert brier_decomposition(y, flat)[1] == pytest.approx(0.0)
