"""Staging and targets on the real sample, plus a hand-made roll that needs no sample.

The sample checks recompute what staging should hold straight from the raw table and
the exchange calendar in pandas, then compare; the known values come from
``data/sample/PROVENANCE.md``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from zlflow.calendar import calendar_table, roll_table, trading_days
from zlflow.loading import load_frame
from zlflow.sources.sample import TABLE_SCHEMAS
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import read_sql_object

ROOT = Path(__file__).resolve().parents[1]
STAGING_SQL = ROOT / "sql" / "staging" / "futures_daily.sql"
ROLLED = ("ZL", "ZS", "ZM")  # symbols with a roll schedule in config
TOL = 1e-9


def _frame(warehouse: DuckDBWarehouse, sql: str) -> pd.DataFrame:
    """A query's rows with DATE columns as datetime64, so they compare to Timestamps."""
    return warehouse.query_arrow(sql).to_pandas(date_as_object=False)


@pytest.fixture(scope="module")
def layers(built_warehouse: Path, config: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The tables these tests read, fetched once; the connection is closed at once."""
    with DuckDBWarehouse(built_warehouse, config["datasets"]) as warehouse:
        return {
            "staged": _frame(
                warehouse, "SELECT * FROM ${staging}.futures_daily ORDER BY symbol, trade_date"
            ),
            "raw": _frame(
                warehouse,
                "SELECT * FROM ${market_data}.raw_futures_daily ORDER BY symbol, bar_label",
            ),
            "calendar": _frame(
                warehouse, "SELECT * FROM ${market_data}.cbot_calendar ORDER BY calendar_date"
            ),
            "rolls": _frame(warehouse, "SELECT * FROM ${market_data}.roll_calendar"),
            "targets": _frame(
                warehouse, "SELECT * FROM ${training}.zl_targets ORDER BY horizon_name, trade_date"
            ),
        }


@pytest.fixture(scope="module")
def staged(layers: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return layers["staged"]


def _symbol(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    return frame[frame["symbol"] == symbol].sort_values("trade_date").reset_index(drop=True)


def _one(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, where
    return frame[mask].iloc[0]


def _expected_sessions(raw: pd.DataFrame, calendar: pd.DataFrame) -> pd.DataFrame:
    """Raw bars mapped to CBOT trade dates and merged, computed without the SQL.

    A TradingView label plus 6 hours, or a Yahoo date, falls on the trade date or a
    closed day before it: the session is the first CBOT trading day on or after it.
    """
    sessions = np.sort(calendar.loc[calendar["is_trading_day"], "calendar_date"].to_numpy())
    shifted = raw["bar_label"].where(
        raw["label_kind"] == "trade_date", raw["bar_label"] + pd.Timedelta(hours=6)
    )
    label_date = shifted.dt.normalize().to_numpy().astype(sessions.dtype)
    position = np.searchsorted(sessions, label_date)
    assert (position < len(sessions)).all()
    mapped = raw.assign(trade_date=sessions[position]).sort_values(["symbol", "bar_label"])
    return (
        mapped.groupby(["symbol", "trade_date"], sort=True)
        .agg(
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
            volume=("volume", "sum"),
            n_bars=("bar_label", "size"),
        )
        .reset_index()
    )


# --- trade dates -----------------------------------------------------------------------


def test_one_row_per_symbol_and_trade_date(staged: pd.DataFrame) -> None:
    assert not staged.duplicated(["symbol", "trade_date"]).any()
    counts = staged.groupby("symbol").size().to_dict()
    assert counts["ZL"] == 4995  # 5,000 bars, 5 sessions split in two


def test_no_weekend_trade_dates(staged: pd.DataFrame) -> None:
    weekend = staged[staged["trade_date"].dt.day_of_week >= 5]
    assert weekend.empty, weekend[["symbol", "trade_date"]].head()
    # The Yahoo Sunday-evening rows of 2025-07-13 were folded into Monday's session.
    assert not (staged["trade_date"] == pd.Timestamp("2025-07-13")).any()
    for symbol in ("ES", "CL"):
        monday = _one(staged, symbol=symbol, trade_date=pd.Timestamp("2025-07-14"))
        assert monday["n_bars"] == 2


def test_every_trade_date_is_a_cbot_trading_day(layers: dict[str, pd.DataFrame]) -> None:
    calendar = layers["calendar"].rename(columns={"calendar_date": "trade_date"})
    staged = layers["staged"]
    joined = staged.merge(calendar, on="trade_date", how="left", suffixes=("", "_cal"))
    assert len(joined) == len(staged)
    assert joined["is_trading_day"].notna().all()
    assert joined["is_trading_day"].astype(bool).all()
    # The session index is the calendar's, so gaps in sessions can be counted.
    assert (joined["trade_date_index"] == joined["trade_date_index_cal"]).all()


def test_session_numbers_count_each_symbols_rows(staged: pd.DataFrame) -> None:
    for symbol, rows in staged.groupby("symbol"):
        ordered = rows.sort_values("trade_date")
        assert ordered["session_number"].tolist() == list(range(len(ordered))), symbol


# --- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "close"),
    [("2023-05-26", 48.82), ("2023-06-16", 59.69)],
)
def test_known_zl_closes(staged: pd.DataFrame, day: str, close: float) -> None:
    """Closes that match an independent LSEG BOc1 series (PROVENANCE.md)."""
    row = _one(staged, symbol="ZL", trade_date=pd.Timestamp(day))
    assert row["close"] == close
    assert row["n_bars"] == 1


def test_sunday_holiday_bar_lands_on_next_session(layers: dict[str, pd.DataFrame]) -> None:
    """The bar labelled Sunday 2023-05-28 18:00 is the session after Memorial Day."""
    raw, staged = layers["raw"], layers["staged"]
    bar = _one(raw, symbol="ZL", bar_label=pd.Timestamp("2023-05-28 18:00"))
    row = _one(staged, symbol="ZL", trade_date=pd.Timestamp("2023-05-30"))
    assert row["close"] == pytest.approx(46.20)
    assert (row["open"], row["close"], row["volume"]) == (bar["open"], bar["close"], bar["volume"])
    assert row["n_bars"] == 1
    zl_dates = set(_symbol(staged, "ZL")["trade_date"])
    assert pd.Timestamp("2023-05-29") not in zl_dates  # Memorial Day
    assert pd.Timestamp("2023-05-26") in zl_dates


def test_zl_split_sessions_are_merged(layers: dict[str, pd.DataFrame]) -> None:
    raw, staged = layers["raw"], layers["staged"]
    zl = _symbol(staged, "ZL")
    merged = zl.loc[zl["n_bars"] == 2, "trade_date"].dt.strftime("%Y-%m-%d").tolist()
    assert merged == ["2005-11-25", "2006-11-24", "2007-07-05", "2010-04-05", "2018-12-06"]
    assert zl["n_bars"].max() == 2

    # 2018-12-05 (national day of mourning) was closed: its bar joins 2018-12-06's.
    labels = [pd.Timestamp("2018-12-04 22:00"), pd.Timestamp("2018-12-05 22:00")]
    bars = raw[(raw["symbol"] == "ZL") & raw["bar_label"].isin(labels)].sort_values("bar_label")
    assert len(bars) == 2
    row = _one(zl, trade_date=pd.Timestamp("2018-12-06"))
    assert row["open"] == bars["open"].iloc[0] == 28.90
    assert row["close"] == bars["close"].iloc[-1] == 28.71
    assert row["high"] == bars["high"].max() == 28.99
    assert row["low"] == bars["low"].min() == 28.47
    assert row["volume"] == bars["volume"].sum() == 43144.0 + 53759.0


def test_every_session_matches_its_raw_bars(layers: dict[str, pd.DataFrame]) -> None:
    """Open of the first bar, close of the last, extremes and summed volume, every symbol."""
    expected = _expected_sessions(layers["raw"], layers["calendar"])
    staged = layers["staged"].sort_values(["symbol", "trade_date"]).reset_index(drop=True)
    assert len(staged) == len(expected)
    assert (staged["symbol"] == expected["symbol"]).all()
    assert (staged["trade_date"] == expected["trade_date"]).all()
    for column in ("open", "close", "volume", "n_bars"):
        assert (staged[column] == expected[column]).all(), column
    # high/low are only ever widened to the open or close, never narrowed.
    widest_high = np.maximum(expected["high"], np.maximum(expected["open"], expected["close"]))
    widest_low = np.minimum(expected["low"], np.minimum(expected["open"], expected["close"]))
    assert (staged["high"] == widest_high).all()
    assert (staged["low"] == widest_low).all()
    widened = (expected["high"] < widest_high) | (expected["low"] > widest_low)
    assert (staged["range_widened"] == widened).all()
    assert int(layers["raw"].groupby("symbol").size()["ZL"]) == int(
        staged.loc[staged["symbol"] == "ZL", "n_bars"].sum()
    )


def test_yahoo_zc_close_above_high_widens_the_range(layers: dict[str, pd.DataFrame]) -> None:
    raw, staged = layers["raw"], layers["staged"]
    zc_raw = raw[(raw["symbol"] == "ZC") & (raw["close"] > raw["high"])]
    assert len(zc_raw) == 394  # PROVENANCE.md
    zc = _symbol(staged, "ZC")
    joined = zc_raw.assign(trade_date=zc_raw["bar_label"]).merge(
        zc, on="trade_date", suffixes=("_raw", "")
    )
    assert (joined["n_bars"] == 1).all()  # none of them is a merged session
    assert len(joined) == 394
    assert joined["range_widened"].all()
    assert (joined["high"] == joined["close"]).all()
    assert (joined["close"] == joined["close_raw"]).all()
    assert (joined["low"] == np.minimum(joined["low_raw"], joined["open"])).all()
    assert (zc["low"] <= np.minimum(zc["open"], zc["close"])).all()
    assert (zc["high"] >= np.maximum(zc["open"], zc["close"])).all()


def test_cl_keeps_the_negative_settlement(staged: pd.DataFrame) -> None:
    cl = _symbol(staged, "CL").set_index("trade_date")
    crash = cl.loc[pd.Timestamp("2020-04-20")]
    assert crash["close"] == pytest.approx(-37.63, abs=1e-5)
    assert crash["low"] == pytest.approx(-40.32, abs=1e-5)
    # No log return into or out of a negative price.
    assert pd.isna(crash["log_return"])
    assert pd.isna(cl.loc[pd.Timestamp("2020-04-21"), "log_return"])
    assert cl.loc[pd.Timestamp("2020-04-17"), "log_return"] == pytest.approx(
        np.log(18.27 / 19.87), abs=1e-6
    )
    assert cl.loc[pd.Timestamp("2020-04-22"), "log_return"] == pytest.approx(
        np.log(13.78 / 10.01), abs=1e-6
    )


# --- rolls -----------------------------------------------------------------------------


def test_roll_days_are_the_scheduled_roll_dates(layers: dict[str, pd.DataFrame]) -> None:
    staged, rolls = layers["staged"], layers["rolls"]
    for symbol in staged["symbol"].unique():
        rows = _symbol(staged, symbol)
        scheduled = set(rolls.loc[rolls["symbol"] == symbol, "roll_date"])
        assert (rows["is_roll_day"] == rows["trade_date"].isin(scheduled)).all(), symbol
        if symbol not in ROLLED:
            assert not rows["is_roll_day"].any(), symbol
    assert int(_symbol(staged, "ZL")["is_roll_day"].sum()) == 159
    assert _one(staged, symbol="ZL", trade_date=pd.Timestamp("2023-06-23"))["is_roll_day"]


@pytest.mark.parametrize("symbol", ROLLED)
def test_adjusted_return_is_zero_on_roll_days(staged: pd.DataFrame, symbol: str) -> None:
    rows = _symbol(staged, symbol)
    rolls = rows[rows["is_roll_day"]]
    assert len(rolls) > 100
    assert (rolls["adj_log_return"] == 0.0).all()
    assert rolls["log_return"].notna().all()
    assert int((rolls["log_return"] != 0.0).sum()) >= len(rolls) - 2  # a gap almost always
    others = rows[~rows["is_roll_day"]].iloc[1:]
    assert (others["adj_log_return"] == others["log_return"]).all()


@pytest.mark.parametrize("symbol", ROLLED)
def test_adjustment_factor_changes_exactly_on_roll_days(staged: pd.DataFrame, symbol: str) -> None:
    rows = _symbol(staged, symbol)
    factor = rows["adj_close"] / rows["close"]
    np.testing.assert_allclose(factor, rows["adj_factor"], rtol=1e-12)
    assert rows["adj_factor"].iloc[0] == 1.0  # anchored at the first bar
    step = (rows["adj_factor"] / rows["adj_factor"].shift(1)).iloc[1:]
    later = rows.iloc[1:]
    changed = ~np.isclose(step, 1.0, rtol=0.0, atol=1e-12)
    # Changes only on roll days, and on every roll day with a price change.
    assert set(later.loc[changed, "trade_date"]) == set(
        later.loc[later["is_roll_day"] & (later["log_return"] != 0.0), "trade_date"]
    )
    on_roll = later["is_roll_day"].to_numpy()
    np.testing.assert_allclose(step[on_roll], np.exp(-later.loc[on_roll, "log_return"]), rtol=1e-12)
    np.testing.assert_allclose(rows["adj_high"], rows["high"] * rows["adj_factor"], rtol=1e-12)
    np.testing.assert_allclose(rows["adj_low"], rows["low"] * rows["adj_factor"], rtol=1e-12)


@pytest.mark.parametrize("symbol", ROLLED)
def test_adjusted_series_has_no_roll_gaps(staged: pd.DataFrame, symbol: str) -> None:
    """Summed adjusted returns between any two dates equal the adjusted price change."""
    rows = _symbol(staged, symbol)
    level = rows["adj_log_return"].cumsum()
    log_adj = np.log(rows["adj_close"] / rows["adj_close"].iloc[0])
    np.testing.assert_allclose(level, log_adj, rtol=0.0, atol=TOL)
    # Around every roll the adjusted close does not jump: the roll day adds nothing.
    previous = rows["adj_close"].shift(1)
    rolls = rows["is_roll_day"] & previous.notna()
    np.testing.assert_allclose(rows.loc[rolls, "adj_close"], previous[rolls], rtol=1e-12)


def test_zl_roll_of_june_2023_is_removed_from_adjusted_returns(staged: pd.DataFrame) -> None:
    zl = _symbol(staged, "ZL").set_index("trade_date")
    start, end = pd.Timestamp("2023-06-01"), pd.Timestamp("2023-07-31")
    window = zl.loc[(zl.index > start) & (zl.index <= end)]
    assert int(window["is_roll_day"].sum()) == 2  # 2023-06-23 and 2023-07-24
    gaps = window.loc[window["is_roll_day"], "log_return"].sum()
    assert abs(gaps) > 1e-3
    adjusted = window["adj_log_return"].sum()
    assert adjusted == pytest.approx(
        np.log(zl.loc[end, "adj_close"] / zl.loc[start, "adj_close"]), abs=TOL
    )
    assert adjusted + gaps == pytest.approx(
        np.log(zl.loc[end, "close"] / zl.loc[start, "close"]), abs=TOL
    )


@pytest.mark.parametrize("symbol", ["ZC", "CL", "ES"])
def test_symbols_without_a_roll_schedule_are_unadjusted(staged: pd.DataFrame, symbol: str) -> None:
    rows = _symbol(staged, symbol)
    assert (rows["adj_factor"] == 1.0).all()
    assert (rows["adj_close"] == rows["close"]).all()


# --- targets and splits ----------------------------------------------------------------


@pytest.fixture(scope="module")
def zl_targets(layers: dict[str, pd.DataFrame], config: dict[str, Any]) -> pd.DataFrame:
    targets = layers["targets"]
    assert set(targets["horizon_name"]) == set(config["horizons"])
    return targets[targets["horizon_name"] == "1m"].reset_index(drop=True)


def test_targets_sum_the_next_h_adjusted_returns(
    layers: dict[str, pd.DataFrame], zl_targets: pd.DataFrame, config: dict[str, Any]
) -> None:
    h = config["horizons"]["1m"]
    assert h == 21
    zl = _symbol(layers["staged"], "ZL")
    assert (zl_targets["trade_date"] == zl["trade_date"]).all()
    assert (zl_targets["horizon_days"] == h).all()
    returns = zl["adj_log_return"].to_numpy()
    n = len(zl)
    expected = np.array(
        [returns[i + 1 : i + h + 1].sum() if i + h < n else np.nan for i in range(n)]
    )
    np.testing.assert_allclose(zl_targets["target_log_return"], expected, rtol=0.0, atol=TOL)
    # The target date is exactly h ZL sessions later; the last h rows have none yet.
    expected_dates = zl["trade_date"].shift(-h)
    known = expected_dates.notna()
    assert int((~known).sum()) == h
    assert (zl_targets.loc[known, "target_date"] == expected_dates[known]).all()
    assert zl_targets.loc[~known, "target_date"].isna().all()
    assert (zl_targets.loc[known, "target_date"] > zl_targets.loc[known, "trade_date"]).all()
    up = (zl_targets.loc[known, "target_log_return"] > 0).astype("int64")
    assert (zl_targets.loc[known, "target_up"] == up).all()
    assert zl_targets.loc[~known, "target_up"].isna().all()


def test_split_labels_are_purged_at_each_boundary(
    zl_targets: pd.DataFrame, config: dict[str, Any]
) -> None:
    validation_start = pd.Timestamp(config["split"]["validation_start"])
    test_start = pd.Timestamp(config["split"]["test_start"])
    h = config["horizons"]["1m"]
    t = zl_targets
    split = t["split"]
    assert set(split) == {"train", "validation", "test", "purged", "live"}

    train = t[split == "train"]
    assert (train["trade_date"] < validation_start).all()
    assert (train["target_date"] < validation_start).all()
    validation = t[split == "validation"]
    assert (validation["trade_date"] >= validation_start).all()
    assert (validation["target_date"] < test_start).all()
    test = t[split == "test"]
    assert (test["trade_date"] >= test_start).all()
    assert test["target_date"].notna().all()
    assert (t.loc[split == "live", "target_date"].isna()).all()
    assert (t.loc[split != "live", "target_date"].notna()).all()

    # Purged rows are exactly those whose target window reaches into the next split.
    leaks = t["target_date"].notna() & (
        ((t["trade_date"] < validation_start) & (t["target_date"] >= validation_start))
        | (
            (t["trade_date"] >= validation_start)
            & (t["trade_date"] < test_start)
            & (t["target_date"] >= test_start)
        )
    )
    assert (leaks == (split == "purged")).all()
    # That is the last h sessions before each boundary.
    purged = t[split == "purged"]
    assert int((purged["trade_date"] < validation_start).sum()) == h
    assert int((purged["trade_date"] >= validation_start).sum()) == h


# --- a hand-made roll ------------------------------------------------------------------


def test_synthetic_roll_gap_goes_to_the_factor_not_the_return(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    """30 weekdays of known moves with a +10% contract switch on the scheduled roll date."""
    exchange, start, end = "CBOT_Agriculture", "2021-02-01", "2021-04-30"
    sessions = trading_days(exchange, start, end)
    # April contract: first notice 2021-03-31, roll 5 sessions earlier.
    rolls = roll_table("ZL", [4], 5, sessions)
    assert rolls["roll_date"].tolist() == [date(2021, 3, 24)]
    days = pd.bdate_range("2021-02-16", periods=30)
    assert days.isin(sessions).all()  # no holiday inside: one bar per session
    roll_at = int(days.get_loc(pd.Timestamp("2021-03-24")))
    crash_at = roll_at - 6

    moves = np.where(np.arange(30) % 2 == 0, 0.01, -0.004)
    moves[0] = 0.0
    moves[crash_at] = np.log(0.92)  # a real -8% day stays in the adjusted returns
    moves[roll_at] = 0.0  # the roll day's whole change is the contract switch
    gap = np.log(1.10)
    with_gap = moves.copy()
    with_gap[roll_at] = gap  # the next contract trades 10% higher: no market move
    close = 50.0 * np.exp(np.cumsum(with_gap))
    raw = pd.DataFrame(
        {
            "symbol": "ZL",
            "source": "hand_made",
            "label_kind": "trade_date",
            "bar_label": days,
            "open": close * 0.998,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": 1000.0,
            "source_file": "test_staging.py",
            "source_row": np.arange(30),
        }
    ).astype(dict(TABLE_SCHEMAS["raw_futures_daily"]))

    with DuckDBWarehouse(tmp_path / "w.duckdb", config["datasets"]) as warehouse:
        load_frame(warehouse, "market_data", "raw_futures_daily", raw, tmp_path / "raw.parquet")
        load_frame(
            warehouse,
            "market_data",
            "cbot_calendar",
            calendar_table(exchange, start, end),
            tmp_path / "calendar.parquet",
        )
        load_frame(warehouse, "market_data", "roll_calendar", rolls, tmp_path / "rolls.parquet")
        info = warehouse.deploy(read_sql_object(STAGING_SQL))
        assert info.rows == 30
        rows = _frame(warehouse, "SELECT * FROM ${staging}.futures_daily ORDER BY trade_date")

    assert (rows["trade_date"] == days).all()
    assert rows["is_roll_day"].tolist() == [i == roll_at for i in range(30)]
    # The gap is in the raw log return ...
    assert pd.isna(rows["log_return"].iloc[0])
    np.testing.assert_allclose(rows["log_return"].iloc[1:], with_gap[1:], atol=1e-12)
    assert rows["log_return"].iloc[roll_at] == pytest.approx(gap, abs=1e-12)
    # ... but not in the adjusted one, which keeps every real move, the -8% day included.
    np.testing.assert_allclose(rows["adj_log_return"], moves, atol=1e-12)
    assert rows["adj_log_return"].iloc[roll_at] == 0.0
    assert rows["adj_log_return"].iloc[crash_at] == pytest.approx(np.log(0.92), abs=1e-12)
    # The adjusted close is continuous: the path without the gap, anchored at the first bar.
    np.testing.assert_allclose(rows["adj_close"], 50.0 * np.exp(np.cumsum(moves)), rtol=1e-12)
    assert rows["adj_close"].iloc[roll_at] == pytest.approx(rows["adj_close"].iloc[roll_at - 1])
    factor = np.where(np.arange(30) >= roll_at, 1 / 1.10, 1.0)
    np.testing.assert_allclose(rows["adj_factor"], factor, rtol=1e-12)
    np.testing.assert_allclose(rows["adj_high"], rows["high"] * factor, rtol=1e-12)
    raw_change = np.log(rows["close"].iloc[-1] / rows["close"].iloc[0])
    assert raw_change - rows["adj_log_return"].sum() == pytest.approx(gap, abs=1e-12)
    assert (rows["n_bars"] == 1).all()
    assert not rows["range_widened"].any()
