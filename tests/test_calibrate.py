"""Online calibration: coverage through a volatility regime shift, delayed feedback only,
direction probabilities that do not lose to climatology on noise."""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from zlflow.calibrate import (
    CalibrationError,
    CalibrationSettings,
    calibrate_online,
    conformal_offset,
    interval_pairs,
    uncalibrated,
)
from zlflow.metrics import brier

QUANTILES = (0.025, 0.05, 0.1, 0.5, 0.9, 0.95, 0.975)
COLUMNS = ["q2_5", "q5", "q10", "q50", "q90", "q95", "q97_5"]
STATIC = CalibrationSettings(normalise=False, gamma=0.0, window=None)
ADAPTIVE = CalibrationSettings()


def regime_shift(n: int = 6000, h: int = 5, calm: float = 0.01, wild: float = 0.03, seed: int = 0):
    """Daily returns whose volatility triples halfway; forecasts of h-day sums made each day.

    The model's quantiles are those of the calm regime forever (it never notices the shift);
    ``sigma`` is the EWMA volatility forecast from returns up to each day, as in the workflow.
    """
    rng = np.random.default_rng(seed)
    vol = np.where(np.arange(n + h) < n // 2, calm, wild)
    r = rng.normal(0.0, vol)
    dates = pd.bdate_range("2000-01-03", periods=n + h)
    y = np.convolve(r, np.ones(h), mode="valid")[1 : n + 1]  # sum of r[t+1 .. t+h]
    variance = pd.Series(r**2).ewm(alpha=0.06, adjust=True).mean().to_numpy()[:n]
    normal = NormalDist()
    frame = pd.DataFrame(
        {
            "trade_date": dates[:n],
            "target_date": dates[h : n + h],
            "fold": np.arange(n) // 500,
            "model": "m",
            "horizon": "1w",
            "y_true": y,
            "sigma": np.sqrt(h * variance),
            "p_up": rng.uniform(0.25, 0.75, n),  # pure noise: no information about the sign
        }
    )
    for q, column in zip(QUANTILES, COLUMNS, strict=True):
        frame[column] = normal.inv_cdf(q) * calm * np.sqrt(h)
    return frame, dates[n // 2]


def coverage_of(frame: pd.DataFrame, lo: str, hi: str) -> float:
    inside = (frame["y_true"] >= frame[lo]) & (frame["y_true"] <= frame[hi])
    return float(inside.mean())


def test_adaptive_holds_coverage_through_a_regime_shift_where_static_fails() -> None:
    frame, shift = regime_shift()
    static = calibrate_online(frame, QUANTILES, STATIC)
    adaptive = calibrate_online(frame, QUANTILES, ADAPTIVE)
    for out in (static, adaptive):
        # Row j knows the j - 4 outcomes whose target date (j - 5 + 5) is on or before it.
        assert out["calibrated"].sum() == len(frame) - (50 + 5 - 1)
    scored_static = static[static["calibrated"]]
    scored = adaptive[adaptive["calibrated"]]
    after = scored["trade_date"] >= shift
    # Static conformal (offsets from all earlier, mostly calm, scores) under-covers badly
    # once volatility triples.
    assert coverage_of(scored_static[scored_static["trade_date"] >= shift], "q10", "q90") < 0.70
    assert coverage_of(scored_static, "q10", "q90") < 0.75
    # Normalised scores with ACI hold nominal coverage within 2 points, overall and after.
    assert coverage_of(scored, "q10", "q90") == pytest.approx(0.80, abs=0.02)
    assert coverage_of(scored[after], "q10", "q90") == pytest.approx(0.80, abs=0.02)
    assert coverage_of(scored, "q2_5", "q97_5") == pytest.approx(0.95, abs=0.02)
    assert coverage_of(scored, "q5", "q95") == pytest.approx(0.90, abs=0.02)


def test_aci_pulls_coverage_back_without_normalisation() -> None:
    frame, _ = regime_shift(seed=3)
    aci_only = CalibrationSettings(normalise=False, gamma=0.02, window=250)
    scored = calibrate_online(frame, QUANTILES, aci_only)
    scored = scored[scored["calibrated"]]
    assert coverage_of(scored, "q10", "q90") == pytest.approx(0.80, abs=0.02)


def test_an_outcome_counts_only_once_its_target_date_has_passed() -> None:
    frame, _ = regime_shift(n=800)
    base = calibrate_online(frame, QUANTILES, ADAPTIVE)
    for j in (120, 400, 799):
        cutoff = frame["trade_date"].iloc[j]
        # Outcomes not yet known at the j-th forecast date: replace them with garbage.
        future = frame["target_date"] > cutoff
        assert future.iloc[j - 4 : j + 1].all()  # the last h-1 forecasts are still open
        poisoned = frame.assign(
            y_true=np.where(future, frame["y_true"] * -50.0 + 3.0, frame["y_true"])
        )
        again = calibrate_online(poisoned, QUANTILES, ADAPTIVE)
        shown = [*COLUMNS, "p_up", "direction_weight", "direction_skill", "matured"]
        pd.testing.assert_frame_equal(base.loc[:j, shown], again.loc[:j, shown])
    # A row is calibrated from exactly the outcomes matured by its date.
    matured = [(frame["target_date"] <= t).sum() for t in frame["trade_date"]]
    np.testing.assert_array_equal(base["matured"], matured)


def test_live_rows_are_calibrated_with_the_state_carried_to_their_date() -> None:
    frame, _ = regime_shift(n=900)
    live = frame.iloc[[-1]].assign(
        trade_date=frame["target_date"].iloc[-1], target_date=pd.NaT, y_true=np.nan, fold=-1
    )
    out = calibrate_online(pd.concat([frame, live], ignore_index=True), QUANTILES, ADAPTIVE)
    row = out.iloc[-1]
    assert bool(row["calibrated"]) and row["matured"] == len(frame)
    assert row["q2_5"] < row["raw_q2_5"] and row["q97_5"] > row["raw_q97_5"]
    state = json.loads(row["calibration"])
    assert state["matured_outcomes"] == len(frame)
    # The unknown live outcome fed nothing back: the history rows are unchanged.
    alone = calibrate_online(frame, QUANTILES, ADAPTIVE)
    pd.testing.assert_frame_equal(
        out.iloc[:-1][COLUMNS].reset_index(drop=True), alone[COLUMNS].reset_index(drop=True)
    )


def test_direction_on_pure_noise_does_not_lose_to_climatology() -> None:
    frame, _ = regime_shift(n=20000, seed=11)
    out = calibrate_online(frame, QUANTILES, ADAPTIVE)
    scored = out[out["calibrated"]]
    up = (scored["y_true"] > 0).astype(float)
    model = brier(up, scored["p_up"])
    climatology = brier(up, scored["p_up_climatology"])
    assert 1.0 - model / climatology >= -0.005
    # The raw noise loses clearly; the learned weight drops it almost entirely.
    assert 1.0 - brier(up, scored["raw_p_up"]) / climatology < -0.03
    assert scored["direction_weight"].iloc[-1] < 0.15
    assert scored["direction_skill"].iloc[-1] < 0.005


def test_an_informative_direction_keeps_its_weight_and_shows_skill() -> None:
    frame, _ = regime_shift(n=4000, seed=5)
    normal = NormalDist()
    # p_up from the realised sign with noise: genuinely informative.
    signal = np.sign(frame["y_true"]) * 0.6 + np.random.default_rng(2).normal(0, 1, len(frame))
    frame["p_up"] = [normal.cdf(s) for s in signal]
    out = calibrate_online(frame, QUANTILES, ADAPTIVE)
    assert out["direction_weight"].iloc[-1] > 0.5
    assert out["direction_skill"].iloc[-1] > 0.05


def test_quantiles_never_cross_and_median_is_unchanged() -> None:
    frame, _ = regime_shift(n=700)
    frame["q10"] = frame["q90"] + 0.001  # crossing raw quantiles
    out = calibrate_online(frame, QUANTILES, ADAPTIVE)
    values = out[COLUMNS].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all()
    np.testing.assert_array_equal(out["q50"], frame["q50"])


def test_models_and_horizons_are_calibrated_separately() -> None:
    a, _ = regime_shift(n=600, seed=1)
    b = a.assign(model="other", y_true=a["y_true"] * 4.0)
    both = calibrate_online(pd.concat([a, b], ignore_index=True), QUANTILES, ADAPTIVE)
    alone = calibrate_online(a, QUANTILES, ADAPTIVE)
    pd.testing.assert_frame_equal(
        both[both["model"] == "m"][COLUMNS].reset_index(drop=True),
        alone[COLUMNS].reset_index(drop=True),
    )


def test_interval_pairs_and_conformal_index() -> None:
    assert interval_pairs(QUANTILES) == {0.8: (0.1, 0.9), 0.9: (0.05, 0.95), 0.95: (0.025, 0.975)}
    scores = np.arange(1.0, 200.0)  # 199 scores
    # ceil(200 * 0.8) = 160 exactly, despite floating point.
    assert conformal_offset(scores, 0.8) == 160.0
    assert conformal_offset(scores, 0.999) == 199.0  # beyond n: the largest score
    assert conformal_offset(scores, -0.5) == 1.0  # ACI below 0: the smallest


def test_clear_errors() -> None:
    frame, _ = regime_shift(n=200)
    with pytest.raises(CalibrationError, match="sigma"):
        calibrate_online(frame.drop(columns="sigma"), QUANTILES, ADAPTIVE)
    with pytest.raises(CalibrationError, match="finite and positive"):
        calibrate_online(frame.assign(sigma=0.0), QUANTILES, ADAPTIVE)
    with pytest.raises(CalibrationError, match="on or before their trade_date"):
        calibrate_online(frame.assign(target_date=frame["trade_date"]), QUANTILES, ADAPTIVE)
    calibrated = calibrate_online(frame, QUANTILES, ADAPTIVE)
    with pytest.raises(CalibrationError, match="calibrated before"):
        calibrate_online(calibrated.drop(columns="calibration"), QUANTILES, ADAPTIVE)
    with pytest.raises(CalibrationError, match="shorter than min_history"):
        CalibrationSettings.from_config({"min_history": 50, "intervals": {"window": 20}})


def test_uncalibrated_restores_the_raw_predictions() -> None:
    frame, _ = regime_shift(n=300)
    restored = uncalibrated(calibrate_online(frame, QUANTILES, ADAPTIVE))
    pd.testing.assert_frame_equal(restored[frame.columns], frame)
    settings = CalibrationSettings.from_config(
        {
            "min_history": 20,
            "intervals": {"gamma": 0.01, "window": None, "normalise": False},
            "direction": {"method": "none"},
        }
    )
    assert settings == CalibrationSettings(20, False, 0.01, None, False)


def test_direction_shrinks_towards_the_climatology_known_at_each_date() -> None:
    frame, _ = regime_shift(n=3000, seed=9)
    # A long-run climatology that the rows carry (as the workflow passes the share of rises
    # over the whole history matured by each date); noise p_up falls back to it.
    frame["p_up_climatology"] = 0.5
    out = calibrate_online(frame, QUANTILES, ADAPTIVE)
    scored = out[out["calibrated"]]
    assert (scored["p_up_climatology"] == 0.5).all()
    np.testing.assert_allclose(
        scored["p_up"],
        0.5 + scored["direction_weight"] * (scored["raw_p_up"] - 0.5),
    )
    assert scored["direction_weight"].iloc[-1] < 0.3  # noise: about two standard errors
    with pytest.raises(CalibrationError, match="p_up_climatology"):
        calibrate_online(frame.assign(p_up_climatology=np.nan), QUANTILES, ADAPTIVE)
