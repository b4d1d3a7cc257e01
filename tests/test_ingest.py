"""Ingest into a fresh DuckDB warehouse: idempotent upserts, a log per run, bad data refused.

Every rejection test compares the whole warehouse (raw table, ingest log) and the
snapshot file before and after: a refused load must leave no trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zlflow.errors import SourceError, ZlflowError
from zlflow.loading import load_frame
from zlflow.sources import fred, sample
from zlflow.sources.databento_source import read_ohlcv_dbn
from zlflow.sources.ingest import (
    INGEST_LOG,
    DateRange,
    ingest,
    ingest_history,
    missing_range,
)
from zlflow.sources.synthetic import synthetic_futures
from zlflow.sources.validate import validate_raw
from zlflow.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
DATASETS = {"market_data": "market_data"}


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    with DuckDBWarehouse(tmp_path / "db" / "wh.duckdb", DATASETS) as warehouse:
        yield warehouse


def contents(wh: DuckDBWarehouse, table: str) -> pd.DataFrame | None:
    """A table's rows in a canonical order, or None when it does not exist."""
    try:
        wh.table_info("market_data", table)
    except ZlflowError:
        return None
    frame = wh.query_native(f"SELECT * FROM market_data.{table}").to_pandas()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def fred_frame() -> pd.DataFrame:
    payload = json.loads((FIXTURES / "fred_series_observations_DGS10.json").read_text())
    return fred.parse_observations("DGS10", payload, "fred_DGS10_api.json")


def futures_frame(n_symbols: int = 2, years: int = 1) -> pd.DataFrame:
    return synthetic_futures(n_symbols, years, seed=7, symbols=[f"T{i}" for i in range(n_symbols)])


# --- idempotence -------------------------------------------------------------------


def test_same_snapshot_twice_changes_nothing(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    frame, snap = fred_frame(), tmp_path / "raw" / "fred_DGS10.parquet"
    first = ingest(wh, "raw_fred", frame, snap, "fred:DGS10", (date(2024, 1, 1), date(2024, 1, 12)))
    table_after_first = contents(wh, "raw_fred")
    second = ingest(
        wh, "raw_fred", frame, snap, "fred:DGS10", (date(2024, 1, 1), date(2024, 1, 12))
    )

    assert (first.inserted, first.updated, first.unchanged, first.rows) == (10, 0, 0, 10)
    assert (second.inserted, second.updated, second.unchanged, second.rows) == (0, 0, 10, 10)
    pd.testing.assert_frame_equal(contents(wh, "raw_fred"), table_after_first)
    pd.testing.assert_frame_equal(pd.read_parquet(snap), frame)

    log = ingest_history(wh)
    assert log["inserted"].tolist() == [10, 0] and log["unchanged"].tolist() == [0, 10]
    assert set(log["source"]) == {"fred:DGS10"} and set(log["table_name"]) == {"raw_fred"}
    assert log["range_start"].dt.date.tolist() == [date(2024, 1, 1)] * 2
    assert log["range_end"].dt.date.tolist() == [date(2024, 1, 12)] * 2
    assert log["ingest_id"].is_unique and set(log["snapshot"]) == {snap.name}


def test_a_revised_bar_is_exactly_one_update(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    frame, snap = futures_frame(), tmp_path / "futures.parquet"
    ingest(wh, "raw_futures_daily", frame, snap, "synthetic")
    revised = frame.copy()
    row = revised.index[100]
    revised.loc[row, "close"] = revised.loc[row, "open"]  # a settlement correction
    revised.loc[row, "high"] = revised.loc[row, ["high", "open"]].max()
    revised.loc[row, "low"] = revised.loc[row, ["low", "open"]].min()

    result = ingest(wh, "raw_futures_daily", revised, snap, "synthetic")

    assert (result.inserted, result.updated, result.unchanged) == (0, 1, len(frame) - 1)
    stored = contents(wh, "raw_futures_daily")
    key = (stored["symbol"] == frame.loc[row, "symbol"]) & (
        stored["bar_label"] == frame.loc[row, "bar_label"]
    )
    assert stored.loc[key, "close"].item() == revised.loc[row, "close"]


def test_new_days_are_inserted_next_to_old_ones(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    frame = futures_frame(n_symbols=1)
    ingest(wh, "raw_futures_daily", frame.iloc[:200], tmp_path / "a.parquet", "synthetic")
    result = ingest(wh, "raw_futures_daily", frame.iloc[150:], tmp_path / "b.parquet", "synthetic")
    assert (result.inserted, result.updated, result.unchanged) == (len(frame) - 200, 0, 50)
    assert result.rows == len(frame)


def test_api_rows_merge_into_the_sample_loaded_table(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    """The API parser's types match the sample loader's: the merge accepts them, and the
    values equal the bundled CSV's (only ``source_file`` differs, hence 'updated')."""
    csv = sample.read_fred_csv(ROOT / "data/sample/fred_DGS10.csv")
    load_frame(wh, "market_data", "raw_fred", csv, tmp_path / "sample_fred.parquet")
    result = ingest(wh, "raw_fred", fred_frame(), tmp_path / "api.parquet", "fred:DGS10")
    assert (result.inserted, result.updated, result.rows) == (0, 10, len(csv))
    stored = contents(wh, "raw_fred")
    window = stored[stored["obs_date"].between("2024-01-01", "2024-01-12")]
    expected = csv[csv["obs_date"].between("2024-01-01", "2024-01-12")]
    np.testing.assert_array_equal(window["value"].to_numpy(), expected["value"].to_numpy())


def test_databento_bars_ingest(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    frame = read_ohlcv_dbn(FIXTURES / "databento_glbx_ohlcv-1d.dbn.zst", {"ESH1": "ES"})
    result = ingest(wh, "raw_futures_daily", frame, tmp_path / "es.parquet", "databento:ES")
    assert (result.inserted, result.rows) == (1, 1)


# --- rejections leave no trace -----------------------------------------------------

Mutation = Callable[[pd.DataFrame], pd.DataFrame]


def _set(row: int, **values: object) -> Mutation:
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, value in values.items():
            frame.loc[frame.index[row], column] = value
        return frame

    return mutate


def _cl_yahoo(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(symbol="CL", source="yahoo")


FUTURES_FAILURES: dict[str, tuple[Mutation, str]] = {
    "negative price": (_set(3, low=-1.0), r"prices must be > 0 \(allow-listed exceptions"),
    "high below close": (
        _set(4, high=1.0, low=0.5),
        r"high must be >= max\(open, close\) \(sources repaired by widen_range: yahoo\)",
    ),
    "low above open": (_set(5, low=1e6, high=2e6), r"low must be <= min\(open, close\)"),
    "high below low": (_set(6, high=1.0, low=2.0), r"high must be >= low"),
    "duplicate key": (
        lambda f: pd.concat([f, f.iloc[[7]]], ignore_index=True),
        r"duplicate natural key \['symbol', 'bar_label'\] at row \d+: .*; row \d+: ",
    ),
    "missing close": (_set(8, close=np.nan), r"close: missing value"),
    "unknown label kind": (_set(9, label_kind="utc_open"), r"label_kind not in"),
    "future date": (
        _set(10, bar_label=pd.Timestamp("2099-01-05")),
        r"bar_label in the future",
    ),
    "time on a trade date": (
        _set(11, bar_label=pd.Timestamp("2005-01-14 13:30")),
        r"trade_date labels must be midnight",
    ),
    "blank symbol": (_set(12, symbol=" "), r"symbol: must not be blank"),
    "negative volume": (_set(13, volume=-5.0), r"volume: volume must be >= 0"),
    "tz-aware labels": (
        lambda f: f.assign(bar_label=f["bar_label"].dt.tz_localize("UTC")),
        r"wrong column types .*timestamps must be naive",
    ),
    "missing column": (lambda f: f.drop(columns="volume"), r"missing \['volume'\]"),
    "extra column": (lambda f: f.assign(oi=1.0), r"unexpected \['oi'\]"),
    "float32 prices": (
        lambda f: f.astype({"close": "float32"}),
        r"found \{'close': 'float32'\}, expected \{'close': 'float64'\}",
    ),
}


@pytest.mark.parametrize("case", sorted(FUTURES_FAILURES))
def test_bad_futures_are_rejected_without_a_trace(
    case: str, wh: DuckDBWarehouse, tmp_path: Path
) -> None:
    good, snap = futures_frame(), tmp_path / "raw" / "futures.parquet"
    ingest(wh, "raw_futures_daily", good, snap, "synthetic")
    before = (contents(wh, "raw_futures_daily"), contents(wh, INGEST_LOG), snap.read_bytes())
    mutate, message = FUTURES_FAILURES[case]

    with pytest.raises(SourceError, match=message) as info:
        ingest(wh, "raw_futures_daily", mutate(good), snap, "synthetic")

    text = str(info.value)
    assert text.startswith("source 'synthetic', file synthetic:seed=7")
    after = (contents(wh, "raw_futures_daily"), contents(wh, INGEST_LOG), snap.read_bytes())
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])
    assert after[2] == before[2]
    assert [p.name for p in snap.parent.iterdir()] == ["futures.parquet"]  # no leftovers


def test_message_shows_at_most_ten_rows(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    frame = futures_frame().copy()
    frame.loc[frame.index[:25], "low"] = -1.0
    with pytest.raises(SourceError) as info:
        ingest(wh, "raw_futures_daily", frame, tmp_path / "f.parquet", "synthetic")
    text = str(info.value)
    assert "1 problem(s), nothing loaded into raw_futures_daily" in text
    assert "and 20 more (25 rows in all)" in text
    assert len([line for line in text.splitlines() if "prices must be > 0 (" in line]) == 1
    assert len(re.findall(r"row \d+: ", text)) == 5
    assert contents(wh, "raw_futures_daily") is None and contents(wh, INGEST_LOG) is None


def test_documented_exceptions_pass() -> None:
    """CL's negative settlement is allow-listed; Yahoo's settlement may leave the range."""
    bars = futures_frame(n_symbols=1).iloc[:3].copy()
    bars["bar_label"] = pd.to_datetime(["2020-04-17", "2020-04-20", "2020-04-21"]).astype(
        "datetime64[us]"
    )
    bars = _cl_yahoo(bars)
    bars.loc[bars.index[1], ["open", "high", "low", "close"]] = [17.73, 17.85, -40.32, -37.63]
    bars.loc[bars.index[2], ["open", "high", "low", "close"]] = [-14.0, 13.86, -16.74, 10.01]
    bars.loc[bars.index[0], ["open", "high", "low", "close"]] = [25.0, 25.5, 24.0, 25.9]
    validate_raw("raw_futures_daily", bars, "yahoo", "cl_daily_yahoo.csv")
    with pytest.raises(SourceError, match=r"high must be >= max\(open, close\)"):
        validate_raw("raw_futures_daily", bars.assign(source="databento"), "databento", "x")
    moved = bars.assign(bar_label=bars["bar_label"] + pd.Timedelta(days=7))
    with pytest.raises(SourceError, match=r"prices must be > 0"):
        validate_raw("raw_futures_daily", moved, "yahoo", "cl_daily_yahoo.csv")


OTHER_FAILURES: dict[str, tuple[str, Mutation, str]] = {
    "fred inf": ("raw_fred", _set(2, value=np.inf), r"value must be finite or missing"),
    "fred bad id": ("raw_fred", _set(2, series_id="DGS 10"), r"series_id: must match"),
    "fred time of day": (
        "raw_fred",
        _set(2, obs_date=pd.Timestamp("2024-01-03 12:00")),
        r"obs_date must be a date \(midnight\)",
    ),
    "fred 1850": (
        "raw_fred",
        _set(2, obs_date=pd.Timestamp("1850-01-01")),
        r"obs_date before 1900-01-01",
    ),
}


@pytest.mark.parametrize("case", sorted(OTHER_FAILURES))
def test_bad_fred_rows_are_rejected(case: str, wh: DuckDBWarehouse, tmp_path: Path) -> None:
    table, mutate, message = OTHER_FAILURES[case]
    snap = tmp_path / "fred.parquet"
    ingest(wh, table, fred_frame(), snap, "fred:DGS10")
    before = contents(wh, table), contents(wh, INGEST_LOG), snap.read_bytes()
    with pytest.raises(SourceError, match=message) as info:
        ingest(wh, table, mutate(fred_frame()), snap, "fred:DGS10", ("1850-01-01", "2024-12-31"))
    assert "source 'fred:DGS10', file fred_DGS10_api.json" in str(info.value)
    assert contents(wh, table).equals(before[0]) and contents(wh, INGEST_LOG).equals(before[1])
    assert snap.read_bytes() == before[2]


def test_weather_and_cot_ranges() -> None:
    weather = sample.read_ghcn_txt_dir(
        ROOT / "data/sample/weather_illinois_ghcn_corteva", "illinois"
    ).iloc[:50]
    with pytest.raises(SourceError, match=r"prcp_mm: prcp_mm outside \[0.0, 2000.0\]"):
        validate_raw("raw_weather", _set(3, prcp_mm=-0.1)(weather), "ghcn", "x")
    with pytest.raises(SourceError, match=r"tmax_c: tmax_c outside \[-90.0, 60.0\]"):
        validate_raw("raw_weather", _set(3, tmax_c=99.0)(weather), "ghcn", "x")
    cot = sample.read_cot(ROOT / "data/sample/cftc_cot_soy_complex_weekly.parquet").iloc[:20]
    with pytest.raises(SourceError, match=r"noncomm_net_pct outside \[-100.0, 100.0\]"):
        validate_raw("raw_cot", _set(0, noncomm_net_pct=140.0)(cot), "cftc", "x")


def test_the_bundled_sample_passes_validation() -> None:
    for table in sample.SAMPLE_FILES:
        frame = sample.read_table(ROOT / "data/sample", table)
        validate_raw(table, frame, "sample", "data/sample")


def test_rows_outside_the_declared_range_are_refused(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"9 row\(s\) dated outside the fetched range"):
        ingest(
            wh,
            "raw_fred",
            fred_frame(),
            tmp_path / "f.parquet",
            "fred:DGS10",
            (date(2024, 1, 1), date(2024, 1, 1)),
        )
    assert contents(wh, "raw_fred") is None and not (tmp_path / "f.parquet").exists()


def test_a_second_source_for_a_symbol_is_refused(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    ingest(wh, "raw_futures_daily", futures_frame(1), tmp_path / "a.parquet", "synthetic")
    other = futures_frame(1).assign(source="databento")
    with pytest.raises(SourceError, match=r"T0 \(loaded from synthetic\) already in"):
        ingest(wh, "raw_futures_daily", other, tmp_path / "b.parquet", "databento:T0")


def test_merge_failure_keeps_the_previous_snapshot(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    snap = tmp_path / "raw" / "fred.parquet"
    ingest(wh, "raw_fred", fred_frame(), snap, "fred:DGS10")
    old = snap.read_bytes()
    wh.execute("ALTER TABLE market_data.raw_fred ADD COLUMN vintage DATE")  # drifted table
    with pytest.raises(ZlflowError, match=r"does not match market_data\.raw_fred"):
        ingest(wh, "raw_fred", fred_frame().assign(value=1.0), snap, "fred:DGS10")
    assert snap.read_bytes() == old
    assert [p.name for p in snap.parent.iterdir()] == ["fred.parquet"]  # no leftovers
    assert len(ingest_history(wh)) == 1


def test_an_empty_fetch_is_logged(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    empty = fred_frame().iloc[:0]
    result = ingest(
        wh, "raw_fred", empty, tmp_path / "e.parquet", "fred:DGS10", ("2024-02-03", "2024-02-04")
    )
    assert (result.inserted, result.rows) == (0, 0)
    assert ingest_history(wh)["rows"].tolist() == [0]
    with pytest.raises(SourceError, match="empty frame needs an explicit date range"):
        ingest(wh, "raw_fred", empty, tmp_path / "e.parquet", "fred:DGS10")


# --- incremental ranges ------------------------------------------------------------


def test_missing_range_follows_the_log(wh: DuckDBWarehouse, tmp_path: Path) -> None:
    def missing(start: str, end: str, **kw: int) -> DateRange | None:
        return missing_range(wh, "raw_fred", "fred:DGS10", start, end, **kw)

    assert missing("2024-01-01", "2024-01-31") == DateRange(date(2024, 1, 1), date(2024, 1, 31))
    ingest(
        wh,
        "raw_fred",
        fred_frame(),
        tmp_path / "f.parquet",
        "fred:DGS10",
        ("2024-01-01", "2024-01-12"),
    )
    assert missing("2024-01-01", "2024-01-31") == DateRange(date(2024, 1, 13), date(2024, 1, 31))
    assert missing("2024-01-01", "2024-01-12") is None
    assert missing("2024-01-01", "2024-01-12", lookback_days=3) == DateRange(
        date(2024, 1, 10), date(2024, 1, 12)
    )
    assert missing("2023-12-20", "2024-01-05") == DateRange(date(2023, 12, 20), date(2023, 12, 31))
    # Coverage is per (source, table): another series or table still needs everything.
    assert missing_range(wh, "raw_fred", "fred:DGS2", "2024-01-01", "2024-01-05") is not None
    assert missing_range(wh, "raw_weather", "fred:DGS10", "2024-01-01", "2024-01-05") is not None
