"""Baselines follow their definitions and use only what was known when they forecast."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from arch.univariate import GARCH, StudentsT, ZeroMean

from zlflow.baselines import BaselineError, baseline_predictions, known_climatology
from zlflow.volatility import VolatilityError, ewma_sigma, garch_quantiles

QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)
COLUMNS = ["q5", "q10", "q50", "q90", "q95"]


def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
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
    garch = np.tile(np.linspace(-0.05, 0.05, 5), (len(test), 1))
    out = baseline_predictions(train, test, QUANTILES, fold=4, horizon="1m", garch=garch)
    assert sorted(out["model"].unique()) == ["climatology", "drift", "garch", "random_walk"]
    assert (out["fold"] == 4).all() and out["fold"].dtype == np.int64
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
    np.testing.assert_allclose(rows["garch"][COLUMNS].to_numpy(float), garch[0])
    walk = out[out["model"] == "random_walk"]
    np.testing.assert_array_equal(walk["y_true"], test["target_log_return"])


def test_baselines_use_only_training_rows() -> None:
    train, test = split()
    base = baseline_predictions(train, test, QUANTILES, fold=1, horizon="1m")
    changed_test = test.assign(target_log_return=test["target_log_return"] * -3.0 + 0.5)
    again = baseline_predictions(train, changed_test, QUANTILES, fold=1, horizon="1m")
    predicted = [*COLUMNS, "p_up"]
    pd.testing.assert_frame_equal(base[predicted], again[predicted])
    with pytest.raises(BaselineError, match="at least 2"):
        baseline_predictions(train.iloc[:1], test, QUANTILES, fold=1, horizon="1m")


def returns_frame(n: int = 1500, seed: int = 2) -> pd.DataFrame:
    """GARCH(1,1) Student-t returns from arch's simulator (percent scale, stored as log
    returns) with their true conditional volatility."""
    model = ZeroMean(
        None, volatility=GARCH(), distribution=StudentsT(seed=np.random.default_rng(seed))
    )
    simulated = model.simulate([0.05, 0.1, 0.85, 6.0], n, burn=200)
    return pd.DataFrame(
        {
            "trade_date": pd.bdate_range("2010-01-04", periods=n),
            "ret_1d": simulated["data"].to_numpy() / 100,
            "true_vol": simulated["volatility"].to_numpy() / 100,
        }
    )


def test_garch_bands_follow_volatility_and_never_read_later_returns() -> None:
    frame = returns_frame()
    returns = pd.Series(frame["ret_1d"].to_numpy(), index=frame["trade_date"])
    dates = frame["trade_date"]
    origins = list(dates.iloc[600:900])
    bands = garch_quantiles(returns, dates.iloc[600], origins, 21, QUANTILES)
    assert bands.shape == (300, 5)
    assert (np.diff(bands, axis=1) > 0).all() and np.allclose(bands[:, 2], 0.0)
    # The bands follow the simulated conditional volatility.
    # The next day's true volatility drives the h-step variance most.
    truth = frame["true_vol"].iloc[601:901].to_numpy()
    assert np.corrcoef(bands[:, 4], truth)[0, 1] > 0.6
    # Returns after the last origin change nothing.
    changed = returns.copy()
    changed.iloc[900:] *= 10
    again = garch_quantiles(changed, dates.iloc[600], origins, 21, QUANTILES)
    np.testing.assert_allclose(bands, again)
    with pytest.raises(VolatilityError, match="250"):
        garch_quantiles(returns, dates.iloc[100], origins, 21, QUANTILES)


def test_ewma_sigma_is_causal() -> None:
    frame = returns_frame(400)
    sigma = ewma_sigma(frame, 5)
    changed = frame.assign(ret_1d=np.where(np.arange(400) > 200, 0.5, frame["ret_1d"]))
    again = ewma_sigma(changed, 5)
    np.testing.assert_allclose(sigma.iloc[:201], again.iloc[:201])
    assert again.iloc[202] > 3 * sigma.iloc[202]


def test_known_climatology_counts_only_matured_outcomes() -> None:
    dates = pd.bdate_range("2020-01-01", periods=6)
    frame = pd.DataFrame(
        {
            "trade_date": dates,
            "target_date": [*dates[2:], pd.NaT, pd.NaT],
            "target_log_return": [0.1, -0.1, 0.2, 0.3, np.nan, np.nan],
        }
    )
    share = known_climatology(frame)
    # Row k's target matures at row k + 2: nothing is known before row 2.
    assert share.iloc[:2].isna().all()
    np.testing.assert_allclose(share.iloc[2:].to_numpy(), [1.0, 0.5, 2 / 3, 0.75])
