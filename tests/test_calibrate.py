"""Walk-forward calibration: nominal coverage, better probabilities, no self-calibration."""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from zlflow.calibrate import (
    CalibrationError,
    Calibrator,
    calibrate_walk_forward,
    conformal_offset,
    interval_pairs,
    uncalibrated,
)
from zlflow.metrics import brier, coverage

QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)
COLUMNS = ["q5", "q10", "q50", "q90", "q95"]
SIGMA = 0.05


def synthetic(
    folds: int = 20, rows: int = 200, width: float = 0.6, seed: int = 7, model: str = "m"
) -> pd.DataFrame:
    """y ~ N(mu, SIGMA); predicted quantiles use sigma * width; p_up is overconfident."""
    rng = np.random.default_rng(seed)
    n = folds * rows
    mu = rng.normal(0.0, 0.5 * SIGMA, n)
    y = rng.normal(mu, SIGMA)
    normal = NormalDist()
    frame = pd.DataFrame(
        {
            "trade_date": pd.bdate_range("2010-01-01", periods=n),
            "fold": np.repeat(np.arange(folds, dtype=np.int64), rows),
            "model": model,
            "horizon": "1m",
            "y_true": y,
        }
    )
    frame["target_date"] = frame["trade_date"] + pd.Timedelta(days=30)
    for q, column in zip(QUANTILES, COLUMNS, strict=True):
        frame[column] = mu + width * SIGMA * normal.inv_cdf(q)
    # The true P(y > 0) is Phi(mu / SIGMA); tripling the z-score makes it overconfident.
    frame["p_up"] = [normal.cdf(3.0 * m / SIGMA) for m in mu]
    return frame


def test_interval_pairs_and_conformal_index() -> None:
    assert interval_pairs(QUANTILES) == {0.8: (0.1, 0.9), 0.9: (0.05, 0.95)}
    assert interval_pairs([0.25, 0.5, 0.9]) == {}
    scores = np.arange(1.0, 10.0)  # n = 9: ceil(10 * 0.8) = 8th smallest
    assert conformal_offset(scores, 0.8) == 8.0
    # n = 3 at 90%: ceil(3.6) = 4 > n, so the largest score is used.
    assert conformal_offset(np.array([3.0, 1.0, 2.0]), 0.9) == 3.0
    # n = 199: (n + 1) * 0.8 is exactly 160, not 161 after floating-point error.
    assert conformal_offset(np.arange(1.0, 200.0), 0.8) == 160.0


def test_walk_forward_reaches_nominal_coverage_and_improves_brier() -> None:
    raw = synthetic()
    out = calibrate_walk_forward(raw, QUANTILES, method="platt")
    assert len(out) == len(raw) and (out.index == raw.index).all()
    assert not out.loc[out["fold"] == 0, "calibrated"].any()
    assert out.loc[out["fold"] >= 1, "calibrated"].all()
    scored = out[out["fold"] >= 2]
    y = scored["y_true"]
    assert coverage(y, scored["q10"], scored["q90"]) == pytest.approx(0.80, abs=0.03)
    assert coverage(y, scored["q5"], scored["q95"]) == pytest.approx(0.90, abs=0.03)
    assert coverage(y, scored["raw_q10"], scored["raw_q90"]) < 0.60
    assert coverage(y, scored["raw_q5"], scored["raw_q95"]) < 0.70
    up = (y > 0).astype(float)
    assert brier(up, scored["p_up"]) < brier(up, scored["raw_p_up"]) - 0.01
    # Fold 0 passes through unchanged.
    first = out[out["fold"] == 0]
    for column in [*COLUMNS, "p_up"]:
        np.testing.assert_array_equal(first[column], first[f"raw_{column}"])


def test_isotonic_direction_also_improves_brier() -> None:
    out = calibrate_walk_forward(synthetic(), QUANTILES, method="isotonic")
    scored = out[out["fold"] >= 2]
    up = (scored["y_true"] > 0).astype(float)
    assert brier(up, scored["p_up"]) < brier(up, scored["raw_p_up"]) - 0.01
    assert scored["p_up"].between(0.0, 1.0).all()


def test_fold_is_never_calibrated_on_its_own_rows() -> None:
    raw = synthetic(folds=6)
    base = calibrate_walk_forward(raw, QUANTILES)
    changed = raw.copy()
    fold3 = changed["fold"] == 3
    changed.loc[fold3, "y_true"] = changed.loc[fold3, "y_true"] * 5.0 + 0.1
    again = calibrate_walk_forward(changed, QUANTILES)
    columns = [*COLUMNS, "p_up"]
    for fold in (0, 1, 2, 3):
        rows = raw["fold"] == fold
        pd.testing.assert_frame_equal(base.loc[rows, columns], again.loc[rows, columns])
    later = raw["fold"] == 4
    assert not np.allclose(base.loc[later, "q90"], again.loc[later, "q90"])
    assert not np.allclose(base.loc[later, "p_up"], again.loc[later, "p_up"])


def test_models_and_horizons_are_calibrated_separately() -> None:
    a = synthetic(folds=4, model="a")
    b = synthetic(folds=4, model="b", width=2.0, seed=8)
    both = calibrate_walk_forward(pd.concat([a, b], ignore_index=True), QUANTILES)
    alone = calibrate_walk_forward(a, QUANTILES)
    pd.testing.assert_frame_equal(both[both["model"] == "a"], alone)


def test_quantiles_never_cross_and_median_is_unchanged() -> None:
    out = calibrate_walk_forward(synthetic(folds=5, width=3.0), QUANTILES)
    values = out[COLUMNS].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all()
    np.testing.assert_array_equal(out["q50"], out["raw_q50"])

    # A history whose outcomes sit on the median shrinks intervals by their full width;
    # narrower rows would cross the median and the 90% band would fall inside the 80% one.
    history = pd.DataFrame(
        {"y_true": np.zeros(60), "q5": -1.1, "q10": -1.0, "q50": 0.0, "q90": 1.0, "q95": 1.1}
    )
    history["p_up"] = 0.5
    calibrator = Calibrator.fit(history, QUANTILES)
    assert calibrator.offsets == {0.8: -1.0, 0.9: -1.1}
    rows = pd.DataFrame(
        {"q5": [-0.3, -1.15], "q10": [-0.2, -1.14], "q50": [0.1, 0.0], "q90": [0.4, 1.14]}
    )
    rows["q95"] = [0.5, 1.15]
    rows["p_up"] = 0.6
    calibrated = calibrator.apply(rows)
    values = calibrated[COLUMNS].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all()
    np.testing.assert_array_equal(calibrated["q50"], rows["q50"])
    np.testing.assert_allclose(values[0], [0.1, 0.1, 0.1, 0.1, 0.1])
    # Unsorted, row 1 would be q5 -0.05 > q10 -0.14: sorting restores nesting.
    np.testing.assert_allclose(values[1], [-0.14, -0.05, 0.0, 0.05, 0.14])


def test_short_or_one_sided_history_leaves_direction_uncalibrated() -> None:
    history = synthetic(folds=1, rows=30)
    calibrator = Calibrator.fit(history, QUANTILES, min_history=50)
    assert calibrator.direction_method == "identity"
    assert "fewer than min_history=50" in (calibrator.direction_note or "")
    assert set(calibrator.offsets) == {0.8, 0.9}
    out = calibrator.apply(synthetic(folds=1, rows=10, seed=1))
    np.testing.assert_array_equal(out["p_up"], out["raw_p_up"])
    assert out["calibrated"].all()

    one_sided = synthetic(folds=1, rows=80).assign(y_true=lambda f: f["y_true"].abs() + 0.01)
    calibrator = Calibrator.fit(one_sided, QUANTILES)
    assert calibrator.direction_model is None
    assert "only one outcome" in (calibrator.direction_note or "")

    record = json.loads(json.dumps(Calibrator.fit(synthetic(folds=1), QUANTILES).to_dict()))
    assert record["n_history"] == 200
    assert set(record["intervals"]) == {"0.8", "0.9"}
    assert record["direction"]["method"] == "platt"


def test_live_rows_are_ignored_in_history_and_rejected_walk_forward() -> None:
    history = synthetic(folds=1)
    with_live = pd.concat([history, history.iloc[[0]].assign(y_true=np.nan)])
    assert Calibrator.fit(with_live, QUANTILES).to_dict() == (
        Calibrator.fit(history, QUANTILES).to_dict()
    )
    with pytest.raises(CalibrationError, match="live rows"):
        calibrate_walk_forward(with_live.assign(fold=-1), QUANTILES)


def test_clear_errors() -> None:
    frame = synthetic(folds=2)
    with pytest.raises(CalibrationError, match="unknown direction calibration method"):
        calibrate_walk_forward(frame, QUANTILES, method="beta")
    with pytest.raises(CalibrationError, match=r"lacks columns \['q95'\]"):
        calibrate_walk_forward(frame.drop(columns="q95"), QUANTILES)
    calibrated = Calibrator.fit(frame, QUANTILES).apply(frame)
    with pytest.raises(CalibrationError, match="already"):
        Calibrator.fit(frame, QUANTILES).apply(calibrated)


def test_uncalibrated_restores_the_raw_predictions() -> None:
    rng = np.random.default_rng(1)
    rows = 300
    raw = pd.DataFrame(
        {
            "trade_date": pd.date_range("2020-01-01", periods=rows, freq="D"),
            "fold": np.repeat([0, 1, 2], rows // 3),
            "model": "m",
            "horizon": "1m",
            "y_true": rng.normal(0, 1, rows),
            "q10": -0.5,
            "q50": 0.0,
            "q90": 0.5,
            "p_up": 0.7,
        }
    )
    calibrated = calibrate_walk_forward(raw, [0.1, 0.5, 0.9])
    assert not calibrated["q90"].equals(raw["q90"])
    pd.testing.assert_frame_equal(uncalibrated(calibrated)[raw.columns], raw)
