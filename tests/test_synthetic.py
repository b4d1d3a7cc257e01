"""Synthetic generator: deterministic, schema-valid, realistic in the ways staging relies on."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zlflow.calendar import roll_table, trading_days
from zlflow.sources.ingest import ingest
from zlflow.sources.sample import FUTURES_SCHEMA
from zlflow.sources.synthetic import roll_dates, sessions_for, synthetic_futures
from zlflow.sources.validate import validate_raw
from zlflow.warehouse.duckdb import DuckDBWarehouse


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return synthetic_futures(40, 6, seed=11)


def test_same_seed_same_frames() -> None:
    pd.testing.assert_frame_equal(synthetic_futures(3, 2, seed=5), synthetic_futures(3, 2, seed=5))
    other = synthetic_futures(3, 2, seed=6)
    assert not np.allclose(other["close"], synthetic_futures(3, 2, seed=5)["close"])


def test_schema_and_validation(bars: pd.DataFrame) -> None:
    assert list(bars.columns) == list(FUTURES_SCHEMA)
    assert {c: str(t) for c, t in bars.dtypes.items()} == dict(FUTURES_SCHEMA)
    assert len(bars) == 40 * 6 * 252 and bars["symbol"].nunique() == 40
    assert bars.equals(bars.sort_values(["symbol", "bar_label"], kind="mergesort"))
    validate_raw("raw_futures_daily", bars, "synthetic", "synthetic")


def test_prices_positive_and_ohlc_consistent(bars: pd.DataFrame) -> None:
    prices = bars[["open", "high", "low", "close"]]
    assert (prices > 0).all().all()
    assert (bars["high"] >= prices[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= prices[["open", "close"]].min(axis=1)).all()
    assert (bars["volume"] >= 0).all() and (bars["volume"] == bars["volume"].round()).all()
    assert bars["bar_label"].dt.day_of_week.max() <= 4  # weekdays only


def test_roll_gaps_fall_on_scheduled_rolls(bars: pd.DataFrame) -> None:
    rolls = roll_dates(sessions_for("2005-01-03", 6))
    gap = np.log(bars["open"] / bars.groupby("symbol")["close"].shift())
    on_roll = bars["bar_label"].isin(rolls)
    roll_gap, other_gap = gap[on_roll], gap[~on_roll].dropna()
    assert 8 * 5 <= len(rolls) <= 8 * 6  # eight contract months a year
    assert roll_gap.abs().mean() > 1.8 * other_gap.abs().mean()
    assert roll_gap.mean() > 0.004 > abs(other_gap.mean())  # contango on average


def test_rolls_match_the_exchange_roll_calendar() -> None:
    sessions = trading_days("CBOT_Agriculture", "2015-01-01", "2016-12-31")
    frame = synthetic_futures(1, 2, seed=1, symbols=["ZL"], sessions=sessions)
    expected = roll_table("ZL", [1, 3, 5, 7, 8, 9, 10, 12], 5, sessions)["roll_date"]
    expected = pd.to_datetime(expected).astype("datetime64[us]")
    assert set(roll_dates(sessions)) == set(expected[expected.isin(sessions)])
    assert frame["bar_label"].tolist() == list(sessions)


def test_volatility_switches_regimes(bars: pd.DataFrame) -> None:
    returns = np.log(bars["close"] / bars.groupby("symbol")["close"].shift())
    rolling = returns.groupby(bars["symbol"]).transform(lambda r: r.rolling(21).std())
    spread = rolling.groupby(bars["symbol"]).agg(lambda v: v.quantile(0.95) / v.quantile(0.05))
    assert spread.median() > 2.5  # a single-regime Gaussian walk gives about 1.6


def test_500_symbols_by_20_years_is_fast() -> None:
    started = time.perf_counter()
    frame = synthetic_futures(500, 20, seed=0)
    elapsed = time.perf_counter() - started
    assert len(frame) == 500 * 20 * 252  # 2.52 M rows
    assert elapsed < 15, f"took {elapsed:.1f} s"  # ~2 s on a 2-core machine


def test_synthetic_bars_load_idempotently(tmp_path: Path) -> None:
    frame = synthetic_futures(3, 1, seed=4)
    with DuckDBWarehouse(tmp_path / "wh.duckdb", {"market_data": "market_data"}) as wh:
        first = ingest(wh, "raw_futures_daily", frame, tmp_path / "s.parquet", "synthetic")
        again = ingest(wh, "raw_futures_daily", frame, tmp_path / "s.parquet", "synthetic")
    assert (first.inserted, again.inserted, again.unchanged) == (len(frame), 0, len(frame))
