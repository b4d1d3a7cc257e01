"""``features.technical_daily`` on synthetic series built to stress its numerics.

The real sample (``test_features.py``) has no long flat stretch and no series whose level
dwarfs its spread. Here the SQL meets both:

* flat stretches of identical prices and identical volumes: every standard deviation
  over them is exactly 0, so Bollinger %B and the volume z-score are NULL (SAFE_DIVIDE)
  and the realised volatilities are exactly 0. One stretch sits at a price with an exact
  binary mean (61.375), where the pandas reference's two-pass sd is 0 as well; the other
  at 61.37, where the reference's mean is an ulp off and only the SQL gives 0;
* volumes of about five million that move by a few contracts, and prices of 5,000 that
  move by a thousandth: daily returns of ~2e-7. The returns' sds come from windowed sums
  of squares (n * S2 - S1^2), which keep full precision because the returns' mean is near
  0 (checked against exact rational arithmetic); volumes and prices keep STDDEV, whose
  centred algorithm stays within 1e-12 here too;
* a steady trend (daily returns 0.01 +- 0.001), the least favourable case for sums of
  squares of returns that real prices produce.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from reference_features import technical_features
from test_features import TECHNICAL_SQL_COLUMNS, WARMUP_SESSIONS, _assert_same
from workflow_tools import ROOT

from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import read_sql_object

SESSIONS = 420
FLAT = slice(300, 340)  # sessions with one price and one volume
FLAT_PRICES = {"FLAT": 61.375, "FLATX": 61.37}
FLAT_VOLUME = 2_654_965.0


def _bars(symbol: str, close: np.ndarray, volume: np.ndarray, rng: np.random.Generator) -> dict:
    n = len(close)
    log_return = np.zeros(n)
    log_return[1:] = np.log(close[1:] / close[:-1])
    spread = np.abs(close) * 1e-3
    return {
        "symbol": symbol,
        "trade_date": pd.date_range("2001-01-01", periods=n, freq="D"),
        "session_number": np.arange(n),
        "adj_close": close,
        "adj_high": close + spread * rng.uniform(0, 1, n),
        "adj_low": close - spread * rng.uniform(0, 1, n),
        "adj_log_return": log_return,
        "volume": volume,
    }


def _staging() -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    n = SESSIONS
    frames = []
    for symbol, price in FLAT_PRICES.items():
        flat_close = 60 + np.cumsum(rng.normal(0, 0.5, n))
        flat_close[FLAT] = price
        flat_volume = rng.integers(1_000, 3_000_000, n).astype(float)
        flat_volume[FLAT] = FLAT_VOLUME
        frames.append(pd.DataFrame(_bars(symbol, flat_close, flat_volume, rng)))
    level_close = 5_000 + rng.normal(0, 1e-3, n)
    level_volume = 5_000_000 + rng.integers(-3, 4, n).astype(float)
    frames.append(pd.DataFrame(_bars("LEVEL", level_close, level_volume, rng)))
    trend_close = 50 * np.exp(np.cumsum(0.01 + rng.normal(0, 0.001, n)))
    trend_volume = rng.integers(10_000, 20_000, n).astype(float)
    frames.append(pd.DataFrame(_bars("TREND", trend_close, trend_volume, rng)))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def joined() -> pd.DataFrame:
    """SQL and reference indicators side by side, one row per (symbol, trade_date)."""
    staging = _staging()
    datasets = {"staging": "staging", "features": "features"}
    with DuckDBWarehouse(":memory:", datasets, threads=1) as warehouse:
        warehouse.con.register("bars", staging)
        warehouse.con.execute("CREATE TABLE staging.futures_daily AS SELECT * FROM bars")
        for name in ("ema", "technical_daily"):
            warehouse.deploy(read_sql_object(ROOT / "sql" / "features" / f"{name}.sql"))
        sql = warehouse.query_arrow("SELECT * FROM ${features}.technical_daily").to_pandas(
            date_as_object=False
        )
    ref = technical_features(staging)
    out = sql.merge(ref, on=["symbol", "trade_date"], suffixes=("_sql", "_ref"), validate="1:1")
    assert len(out) == len(staging)
    return out.sort_values(["symbol", "trade_date"]).reset_index(drop=True)


# On LEVEL, %B and the volume z-score are ill-conditioned (a price error of one ulp of
# 5,000 moves %B by ~1e-10; pandas' running rolling mean of the volumes is off by ~1e-10
# of a z-score): they are checked against exact arithmetic below instead.
ILL_CONDITIONED = {"LEVEL": ("bb_pctb_20", "volume_z_21")}


@pytest.mark.parametrize("symbol", ["FLAT", "LEVEL", "TREND"])
def test_every_indicator_matches_the_reference(joined: pd.DataFrame, symbol: str) -> None:
    """Same NULLs and values within the sample's tolerance on every row."""
    rows = joined[joined["symbol"] == symbol]
    assert len(rows) == SESSIONS
    keys = rows[["symbol", "trade_date"]]
    for column in TECHNICAL_SQL_COLUMNS:
        if column not in ILL_CONDITIONED.get(symbol, ()):
            _assert_same(keys, rows[f"{column}_sql"], rows[f"{column}_ref"], f"{symbol} {column}")


@pytest.mark.parametrize("symbol", sorted(FLAT_PRICES))
def test_identical_values_give_a_zero_sd_and_null_ratios(joined: pd.DataFrame, symbol: str) -> None:
    """Over a flat stretch each sd is exactly 0: %B and volume z NULL, volatilities 0."""
    flat = joined[joined["symbol"] == symbol].set_index("session_number")
    last = FLAT.stop - 1
    # Windows that lie inside the stretch: 20 prices, 21 volumes, 5 and 21 returns (the
    # stretch's first return, into it, is not 0).
    assert flat.loc[FLAT.start + 19 : last, "bb_pctb_20_sql"].isna().all()
    assert flat.loc[FLAT.start + 20 : last, "volume_z_21_sql"].isna().all()
    assert (flat.loc[FLAT.start + 5 : last, "rv_5_sql"] == 0).all()
    assert (flat.loc[FLAT.start + 21 : last, "rv_21_sql"] == 0).all()
    # One row earlier each window still holds a different value: not NULL, not 0.
    assert flat.loc[[FLAT.start + 18], "bb_pctb_20_sql"].notna().all()
    assert flat.loc[[FLAT.start + 19], "volume_z_21_sql"].notna().all()
    assert flat.loc[FLAT.start + 4, "rv_5_sql"] > 0
    assert flat.loc[FLAT.start + 20, "rv_21_sql"] > 0


def _exact_sd(values: list[Fraction], ddof: int) -> float:
    """The sd of exact rationals, rounded once (a float square root of the exact variance)."""
    mean = sum(values, Fraction(0)) / len(values)
    return float(sum((v - mean) ** 2 for v in values) / (len(values) - ddof)) ** 0.5


def test_large_level_small_spread_keeps_full_precision(joined: pd.DataFrame) -> None:
    """On LEVEL, volatilities, volume z-scores and %B agree with exact rational arithmetic
    on the same doubles: rv to 1e-13, z and %B as far as their conditioning allows."""
    staging = _staging()
    bars = staging[staging["symbol"] == "LEVEL"].reset_index(drop=True)
    rows = joined[joined["symbol"] == "LEVEL"].reset_index(drop=True)
    returns = [Fraction(r) for r in bars["adj_log_return"]]
    volume = [Fraction(v) for v in bars["volume"]]
    close = [Fraction(p) for p in bars["adj_close"]]
    for t in range(WARMUP_SESSIONS, SESSIONS):
        for n in (5, 21, 63):
            exact = _exact_sd(returns[t - n + 1 : t + 1], 1) * 252**0.5
            assert rows.loc[t, f"rv_{n}_sql"] == pytest.approx(exact, rel=1e-13), (t, n)
        window = volume[t - 20 : t + 1]
        sd = _exact_sd(window, 1)
        z = float(volume[t] - sum(window, Fraction(0)) / 21) / sd
        assert rows.loc[t, "volume_z_21_sql"] == pytest.approx(z, rel=1e-9, abs=1e-9), t
        window = close[t - 19 : t + 1]
        sd = _exact_sd(window, 0)
        pctb = float(close[t] - sum(window, Fraction(0)) / 20) / (4 * sd) + 0.5
        # One ulp of the price level (9e-13) over 4 sds of ~1e-3: ~2e-10 of %B.
        assert rows.loc[t, "bb_pctb_20_sql"] == pytest.approx(pctb, abs=1e-8), t
