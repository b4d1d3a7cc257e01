"""The ensemble: weights learned only from matured outcomes, skill where members have it."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from zlflow.calibrate import CalibrationSettings, calibrate_online
from zlflow.ensemble import EnsembleError, combine, member_weights
from zlflow.metrics import brier

QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)
COLUMNS = ["q5", "q10", "q50", "q90", "q95"]


def members(n: int = 3000, h: int = 5, seed: int = 0) -> pd.DataFrame:
    """Two members on the same dates: 'good' knows half the signal, 'noise' knows nothing."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2001-01-01", periods=n + h)
    signal = rng.normal(0, 0.02, n)
    y = signal + rng.normal(0, 0.02, n)
    normal = NormalDist()
    parts = []
    for name, centre, spread in (("good", signal, 0.02), ("noise", np.zeros(n), 0.028)):
        part = pd.DataFrame(
            {
                "trade_date": dates[:n],
                "target_date": dates[h : n + h],
                "fold": 0,
                "model": name,
                "model_version": f"{name}-1",
                "horizon": "1w",
                "y_true": y,
                "sigma": 0.028,
                "close": 50.0,
                "regime": "x",
            }
        )
        for q, column in zip(QUANTILES, COLUMNS, strict=True):
            part[column] = centre + normal.inv_cdf(q) * spread
        if name == "good":
            part["p_up"] = [normal.cdf(s / 0.02) for s in signal]
        else:
            part["p_up"] = rng.uniform(0.3, 0.7, n)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_weights_favour_the_better_member_from_matured_outcomes_only() -> None:
    frame = members()
    out = combine(frame, QUANTILES, window=250, min_history=50)
    assert len(out) == 3000 and (out["model"] == "ensemble").all()
    assert out["weight_good"].iloc[:54].eq(0.5).all()  # equal until 50 outcomes matured
    assert out["weight_good"].iloc[-1] > 0.55
    np.testing.assert_allclose(out["weight_good"] + out["weight_noise"], 1.0)
    # Changing outcomes not yet known at row 1000 leaves rows up to it unchanged.
    cutoff = frame["trade_date"].iloc[1000]
    poisoned = frame.assign(y_true=np.where(frame["target_date"] > cutoff, 5.0, frame["y_true"]))
    again = combine(poisoned, QUANTILES, window=250, min_history=50)
    pd.testing.assert_frame_equal(
        out.loc[:1000, [*COLUMNS, "p_up", "weight_good"]],
        again.loc[:1000, [*COLUMNS, "p_up", "weight_good"]],
    )


def test_combined_p_up_on_noise_does_not_lose_to_climatology() -> None:
    frame = members(n=12000, seed=4)
    noise_only = frame[frame["model"] == "noise"]
    coin = noise_only.assign(model="coin", p_up=0.5, model_version="coin")
    combined = combine(pd.concat([noise_only, coin]), QUANTILES, window=250, min_history=50)
    calibrated = calibrate_online(combined, QUANTILES, CalibrationSettings())
    scored = calibrated[calibrated["calibrated"]]
    up = (scored["y_true"] > 0).astype(float)
    skill = 1 - brier(up, scored["p_up"]) / brier(up, scored["p_up_climatology"])
    assert skill >= -0.005


def test_member_weights_by_hand() -> None:
    dates = pd.bdate_range("2020-01-01", periods=4).to_numpy()
    target = dates + np.timedelta64(1, "D")
    losses = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 1.0], [np.nan, np.nan]])
    weights = member_weights(losses, dates, target, window=10, min_history=2)
    np.testing.assert_allclose(weights[:2], 0.5)  # fewer than 2 matured
    # Row 2 knows rows 0 and 1: mean losses 1 and 2, weights 1/1 : 1/2.
    np.testing.assert_allclose(weights[2], [2 / 3, 1 / 3])
    # Row 3 knows rows 0..2: mean losses 5/3 and 5/3.
    np.testing.assert_allclose(weights[3], [0.5, 0.5])


def test_clear_errors() -> None:
    frame = members(n=200)
    with pytest.raises(EnsembleError, match="at least two"):
        combine(frame[frame["model"] == "good"], QUANTILES, 100, 50)
    doubled = pd.concat([frame, frame[frame["model"] == "good"].iloc[:1]])
    with pytest.raises(EnsembleError, match="two forecasts"):
        combine(doubled, QUANTILES, 100, 50)
