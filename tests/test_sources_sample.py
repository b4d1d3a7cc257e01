"""Readers for the bundled sample data, checked against the facts in PROVENANCE.md.

Real files are read once per module; malformed inputs are small files written to
``tmp_path`` so every error message can be checked exactly, without mocks.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zlflow.errors import SourceError
from zlflow.sources.sample import (
    SAMPLE_FILES,
    TABLE_KEYS,
    TABLE_SCHEMAS,
    read_cot,
    read_fred_csv,
    read_fred_many,
    read_ghcn_txt_dir,
    read_milwaukee_csv,
    read_table,
    read_tradingview,
    read_yahoo,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
DEX_OLD = SAMPLE / "fred_DEXBZUS_1999-2021.csv"
DEX_NEW = SAMPLE / "fred_DEXBZUS_2021-2026.csv"


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return {table: read_table(SAMPLE, table) for table in SAMPLE_FILES}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _row(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, where
    return frame[mask].iloc[0]


# --- bundle integrity ----------------------------------------------------------------


def test_bundle_matches_provenance_checksums() -> None:
    text = (SAMPLE / "PROVENANCE.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `([^`]+)` \| \d+ \| `([0-9a-f]{64})` \|$", text, re.M))
    on_disk = {
        p.relative_to(SAMPLE).as_posix()
        for p in SAMPLE.rglob("*")
        if p.is_file() and p.name != "PROVENANCE.md"
    }
    assert set(listed) == on_disk
    assert len(on_disk) == 48  # 7 futures/COT + 10 FRED + 23 Iowa + 7 Illinois + Milwaukee
    for name, digest in listed.items():
        assert hashlib.sha256((SAMPLE / name).read_bytes()).hexdigest() == digest, name


def test_registry_names_every_bundled_source() -> None:
    registered = {s.path for sources in SAMPLE_FILES.values() for s in sources}
    top_level = {p.name for p in SAMPLE.iterdir() if p.name != "PROVENANCE.md"}
    assert registered == top_level
    assert set(SAMPLE_FILES) == {"raw_futures_daily", "raw_fred", "raw_cot", "raw_weather"}


# --- schemas -------------------------------------------------------------------------


def test_tables_have_exact_schema_sorted_unique_keys(tables: dict[str, pd.DataFrame]) -> None:
    assert set(tables) == set(TABLE_SCHEMAS)
    for name, frame in tables.items():
        schema = TABLE_SCHEMAS[name]
        assert list(frame.columns) == list(schema), name
        assert {c: str(t) for c, t in frame.dtypes.items()} == dict(schema), name
        key = list(TABLE_KEYS[name])
        assert not frame.duplicated(key).any(), name
        assert frame.equals(frame.sort_values(key).reset_index(drop=True)), name
        assert isinstance(frame.index, pd.RangeIndex), name
    assert tables["raw_futures_daily"]["bar_label"].dtype == "datetime64[us]"
    assert tables["raw_fred"]["obs_date"].dtype == "datetime64[us]"


# --- futures -------------------------------------------------------------------------


def test_futures_row_counts_and_ranges(tables: dict[str, pd.DataFrame]) -> None:
    futures = tables["raw_futures_daily"]
    stats = futures.groupby("symbol").agg(
        n=("bar_label", "size"), first=("bar_label", "min"), last=("bar_label", "max")
    )
    assert stats["n"].to_dict() == {
        "CL": 6404, "ES": 6423, "ZC": 6405, "ZL": 5000, "ZM": 5000, "ZS": 5000
    }  # fmt: skip
    assert stats.loc["ES", "first"] == pd.Timestamp("2000-09-18")
    assert stats.loc["ZC", "first"] == pd.Timestamp("2000-07-17")
    assert (stats.loc[["ES", "CL", "ZC"], "last"] == pd.Timestamp("2026-02-23")).all()
    assert stats.loc["ZL", "first"] == pd.Timestamp("2004-08-19 21:00")
    assert stats.loc["ZS", "first"] == pd.Timestamp("2004-08-18 21:00")
    assert stats.loc["ZL", "last"] == pd.Timestamp("2024-06-20 21:00")
    zl = futures[futures["symbol"] == "ZL"]
    assert zl["close"].min() == pytest.approx(18.86)
    assert zl["close"].max() == pytest.approx(86.60)
    assert futures[["open", "high", "low", "close", "volume"]].notna().all().all()
    assert int((zl["volume"] == 0).sum()) == 2
    by_source = futures.groupby("symbol")[["source", "label_kind"]].first()
    assert by_source.loc["ZL"].tolist() == ["tradingview", "session_open_sao_paulo"]
    assert by_source.loc["ES"].tolist() == ["yahoo", "trade_date"]


def test_tradingview_labels_are_kept_unconverted() -> None:
    zl = read_tradingview(SAMPLE / "zl_daily_tradingview.parquet", "ZL")
    raw = pd.read_parquet(SAMPLE / "zl_daily_tradingview.parquet")
    assert (zl["bar_label"].to_numpy() == raw.index.to_numpy()).all()
    assert (zl["close"].to_numpy() == raw["close"].to_numpy()).all()
    hours = set(zl["bar_label"].dt.strftime("%H:%M"))
    assert {"21:00", "22:00"} <= hours <= {"21:00", "22:00", "18:00", "19:00", "10:30", "11:30"}
    # The holiday bar for the 2023-05-30 session carries a Sunday 18:00 label.
    holiday = _row(zl, bar_label=pd.Timestamp("2023-05-28 18:00"))
    assert holiday["source_file"] == "zl_daily_tradingview.parquet"
    assert zl["source_row"].tolist() == list(range(5000))


def test_yahoo_maps_columns_by_name_not_position() -> None:
    es = read_yahoo(SAMPLE / "es_daily_yahoo.csv", "ES")
    # File line: 2000-09-18,1467.5,1489.75,1462.25,1485.25,104794 (Close first).
    first = _row(es, bar_label=pd.Timestamp("2000-09-18"))
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        1485.25, 1489.75, 1462.25, 1467.5
    )  # fmt: skip
    assert first["volume"] == 104794.0
    assert first["source_row"] == 0
    assert first["close"] < first["high"]
    # 9/11 row is kept (volume 0); the exchange was shut 2001-09-12 .. 2001-09-14.
    sept = es[es["bar_label"].between("2001-09-10", "2001-09-18")]["bar_label"].dt.day.tolist()
    assert sept == [10, 11, 17, 18]


def test_yahoo_values_kept_as_given() -> None:
    cl = read_yahoo(SAMPLE / "cl_daily_yahoo.csv", "CL")
    crash = _row(cl, bar_label=pd.Timestamp("2020-04-20"))
    assert crash["close"] == pytest.approx(-37.63, abs=1e-5)
    assert crash["low"] == pytest.approx(-40.32, abs=1e-5)
    assert _row(cl, bar_label=pd.Timestamp("2020-04-21"))["open"] == -14.0
    assert _row(cl, bar_label=pd.Timestamp("2000-08-23"))["close"] == 32.04999923706055
    zc = read_yahoo(SAMPLE / "zc_daily_yahoo.csv", "ZC")
    assert int((zc["close"] > zc["high"]).sum()) == 394
    # Sunday-evening partial bar: a staging problem, not a reader one.
    es = read_yahoo(SAMPLE / "es_daily_yahoo.csv", "ES")
    assert pd.Timestamp("2025-07-13") in set(es["bar_label"])


# --- FRED ----------------------------------------------------------------------------


def test_fred_counts_and_values(tables: dict[str, pd.DataFrame]) -> None:
    fred = tables["raw_fred"]
    stats = fred.groupby("series_id")["value"].agg(n="size", missing=lambda s: int(s.isna().sum()))
    assert stats.to_dict("index") == {
        "CPIAUCSL": {"n": 551, "missing": 1},
        "DCOILBRENTEU": {"n": 10074, "missing": 277},
        "DCOILWTICO": {"n": 10433, "missing": 366},
        "DEXBZUS": {"n": 5870 + 1305 - 35, "missing": 223 + 54 - 1},
        "DGS10": {"n": 12001, "missing": 502},
        "DGS2": {"n": 12001, "missing": 502},
        "DTWEXBGS": {"n": 5215, "missing": 205},
        "FEDFUNDS": {"n": 551, "missing": 0},
        "T10YIE": {"n": 6000, "missing": 247},
    }
    cpi = fred[fred["series_id"] == "CPIAUCSL"]
    assert np.isnan(_row(cpi, obs_date=pd.Timestamp("2025-10-01"))["value"])
    assert cpi["obs_date"].min() == pd.Timestamp("1980-01-01")
    assert cpi["obs_date"].max() == pd.Timestamp("2025-11-01")
    wti = fred[fred["series_id"] == "DCOILWTICO"]
    assert _row(wti, obs_date=pd.Timestamp("2020-04-20"))["value"] == -36.98


def test_dexbzus_files_merge_into_one_series() -> None:
    old, new = read_fred_csv(DEX_OLD), read_fred_csv(DEX_NEW)
    assert (len(old), int(old["value"].isna().sum())) == (5870, 223)
    assert (len(new), int(new["value"].isna().sum())) == (1305, 54)
    overlap = old.merge(new, on=["series_id", "obs_date"])
    assert len(overlap) == 35  # 34 equal values + 2021-05-31 missing in both
    assert int(overlap["value_x"].notna().sum()) == 34
    assert (overlap["value_x"].dropna() == overlap["value_y"].dropna()).all()

    merged = read_fred_many([DEX_OLD, DEX_NEW])
    assert len(merged) == 7140
    assert merged["obs_date"].is_unique
    assert merged["obs_date"].min() == pd.Timestamp("1999-01-04")
    assert merged["obs_date"].max() == pd.Timestamp("2026-05-15")
    # Overlapping dates keep the first file's row.
    assert _row(merged, obs_date=pd.Timestamp("2021-06-01"))["source_file"] == DEX_OLD.name
    assert _row(merged, obs_date=pd.Timestamp("2021-07-06"))["source_file"] == DEX_NEW.name
    assert _row(merged, obs_date=pd.Timestamp("2021-05-17"))["value"] == 5.2594


def test_fred_fetcher_dialect(tmp_path: Path) -> None:
    path = _write(tmp_path / "fred_DGS10.csv", "date,value\n2020-01-01,\n2020-01-02,1.88\n")
    frame = read_fred_csv(path)
    assert frame["series_id"].tolist() == ["DGS10", "DGS10"]
    assert frame["obs_date"].tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-02")]
    assert np.isnan(frame["value"].iloc[0]) and frame["value"].iloc[1] == 1.88
    assert frame["source_file"].tolist() == ["fred_DGS10.csv"] * 2
    assert read_fred_csv(path, series_id="X")["series_id"].iloc[0] == "X"
    ranged = _write(tmp_path / "fred_DGS2_1980-2025.csv", "date,value\n2020-01-02,1.5\n")
    assert read_fred_csv(ranged)["series_id"].iloc[0] == "DGS2"


def test_fred_legacy_native_dialect(tmp_path: Path) -> None:
    path = _write(tmp_path / "whatever.csv", "DATE,DEXBZUS\n2021-05-31,.\n2021-06-01,5.2\n")
    frame = read_fred_csv(path)
    assert frame["series_id"].tolist() == ["DEXBZUS"] * 2
    assert np.isnan(frame["value"].iloc[0]) and frame["value"].iloc[1] == 5.2


def test_fred_current_native_dialect(tmp_path: Path) -> None:
    text = "\ufeffobservation_date,T10YIE\n2024-01-02,2.2\n2024-01-01,\n"  # BOM, unsorted
    frame = read_fred_csv(_write(tmp_path / "x.csv", text))
    assert frame["series_id"].tolist() == ["T10YIE"] * 2
    assert frame["obs_date"].dt.day.tolist() == [1, 2]  # sorted
    assert np.isnan(frame["value"].iloc[0]) and frame["value"].iloc[1] == 2.2


def test_fred_missing_token_belongs_to_its_dialect(tmp_path: Path) -> None:
    path = _write(tmp_path / "fred_DGS10.csv", "date,value\n2020-01-01,1.0\n2020-01-02,.\n")
    with pytest.raises(
        SourceError, match=r"unparseable number in column 'value' at row 1 \(line 3\): '\.'"
    ):
        read_fred_csv(path)


def test_fred_overlap_prefers_present_value(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", "DATE,DEXBZUS\n2021-01-01,.\n2021-01-04,5.0\n")
    b = _write(tmp_path / "b.csv", "observation_date,DEXBZUS\n2021-01-01,5.1\n2021-01-04,5.0\n")
    merged = read_fred_many([a, b])
    assert merged["value"].tolist() == [5.1, 5.0]
    assert merged["source_file"].tolist() == ["b.csv", "a.csv"]


# --- COT -----------------------------------------------------------------------------


def test_cot_long_format(tables: dict[str, pd.DataFrame]) -> None:
    cot = tables["raw_cot"]
    assert len(cot) == 3 * 1066
    assert cot.groupby("symbol").size().to_dict() == {"ZL": 1066, "ZM": 1066, "ZS": 1066}
    assert cot["report_date"].min() == pd.Timestamp("2003-01-07")
    assert cot["report_date"].max() == pd.Timestamp("2024-06-11")
    first = cot[cot["report_date"] == pd.Timestamp("2003-01-07")]
    # Derived by the repo author, so values carry float noise (7.399999999999999).
    assert dict(zip(first["symbol"], first["noncomm_net_pct"], strict=True)) == pytest.approx(
        {"ZL": 18.0, "ZM": 7.4, "ZS": 33.1}
    )


# --- weather -------------------------------------------------------------------------


def test_weather_counts_and_known_events(tables: dict[str, pd.DataFrame]) -> None:
    weather = tables["raw_weather"]
    assert weather.groupby("region").size().to_dict() == {
        "illinois": 76699, "iowa": 250712, "wisconsin": 32283
    }  # fmt: skip
    assert weather.groupby("region")["station_id"].nunique().to_dict() == {
        "illinois": 7, "iowa": 23, "wisconsin": 1
    }  # fmt: skip
    iowa = weather[weather["region"] == "iowa"]
    assert iowa["obs_date"].min() == pd.Timestamp("1985-01-01")
    assert iowa["obs_date"].max() == pd.Timestamp("2014-12-31")
    assert iowa[["tmax_c", "tmin_c", "prcp_mm"]].isna().sum().tolist() == [3256, 3452, 5400]
    assert iowa["tmax_c"].max() == 41.7 and iowa["prcp_mm"].max() == 222.5
    summer = iowa[iowa["obs_date"].dt.month.isin([6, 7, 8])]
    daily_mean = summer.groupby("obs_date")["prcp_mm"].mean()
    season = daily_mean.groupby(daily_mean.index.year).sum()
    assert [round(season[y]) for y in (1988, 1993, 2012)] == [205, 675, 168]
    july_2012 = iowa[(iowa["obs_date"].dt.year == 2012) & (iowa["obs_date"].dt.month == 7)]
    assert round(july_2012["tmax_c"].mean(), 1) == 33.2
    station = iowa[iowa["station_id"] == "USC00130112"]
    assert station["obs_date"].min() == pd.Timestamp("1985-05-01")
    first = station.iloc[0]  # file line: 19850501  211  128  107
    assert (first["tmax_c"], first["tmin_c"], first["prcp_mm"]) == (21.1, 12.8, 10.7)


def test_milwaukee_converted_to_metric() -> None:
    mke = read_milwaukee_csv(SAMPLE / "weather_milwaukee_daily_ghcn_USW00014839.csv")
    assert len(mke) == 32283
    assert mke["obs_date"].min() == pd.Timestamp("1938-04-01")
    assert mke["obs_date"].max() == pd.Timestamp("2026-08-19")
    # The stored order has 1939-06-08 after 1939-06-30; sorted, no day is missing.
    assert (mke["obs_date"].diff().dropna() == pd.Timedelta(days=1)).all()
    assert set(mke["station_id"]) == {"USW00014839"} and set(mke["region"]) == {"wisconsin"}
    first = mke.iloc[0]  # 35.96 F, 30.02 F, PRCP NA
    assert (first["tmax_c"], first["tmin_c"]) == (2.2, -1.1) and np.isnan(first["prcp_mm"])
    # 1938-04-06: PRCP 0.09055123000000001 in -> 2.3 mm
    assert _row(mke, obs_date=pd.Timestamp("1938-04-06"))["prcp_mm"] == 2.3
    values = mke[["tmax_c", "tmin_c", "prcp_mm"]].to_numpy()
    assert np.nanmax(np.abs(values * 10 - np.round(values * 10))) < 1e-9
    recent = mke[mke["obs_date"] >= pd.Timestamp("2010-01-01")]
    assert recent[["tmax_c", "tmin_c", "prcp_mm"]].notna().all().all()


# --- malformed input -----------------------------------------------------------------


def test_missing_files_raise(tmp_path: Path) -> None:
    for call in (
        lambda: read_yahoo(tmp_path / "nope.csv", "ES"),
        lambda: read_tradingview(tmp_path / "nope.parquet", "ZL"),
        lambda: read_cot(tmp_path / "nope.parquet"),
        lambda: read_fred_csv(tmp_path / "nope.csv"),
        lambda: read_milwaukee_csv(tmp_path / "nope.csv"),
        lambda: read_ghcn_txt_dir(tmp_path / "nope", "iowa"),
    ):
        with pytest.raises(SourceError, match=r"nope.* not found"):
            call()
    with pytest.raises(SourceError, match=r"no <STATION>\.txt files"):
        read_ghcn_txt_dir(tmp_path, "iowa")


def test_missing_column_raises(tmp_path: Path) -> None:
    path = _write(tmp_path / "es.csv", "Date,Close,Low,Open,Volume\n2020-01-02,1,1,1,1\n")
    with pytest.raises(SourceError, match=r"es\.csv: missing column\(s\) \['High'\]"):
        read_yahoo(path, "ES")
    parquet = tmp_path / "zl.parquet"
    frame = pd.DataFrame(
        {"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]},
        index=pd.DatetimeIndex(["2020-01-01 21:00"], name="datetime"),
    )
    frame.to_parquet(parquet)
    with pytest.raises(SourceError, match=r"zl\.parquet: missing column\(s\) \['volume'\]"):
        read_tradingview(parquet, "ZL")
    cot = tmp_path / "cot.parquet"
    frame.rename(columns={"open": "ZL_COT_%", "high": "ZS_COT_%"}).to_parquet(cot)
    with pytest.raises(SourceError, match=r"cot\.parquet: missing column\(s\) \['ZM_COT_%'\]"):
        read_cot(cot)
    mke = _write(tmp_path / "mke.csv", "date,PRCP,TMAX\n2020-01-01,0,32\n")
    with pytest.raises(SourceError, match=r"mke\.csv: missing column\(s\) \['TMIN'\]"):
        read_milwaukee_csv(mke)
    fred = _write(tmp_path / "fred_X.csv", "when,value\n2020-01-01,1\n")
    with pytest.raises(SourceError, match=r"fred_X\.csv: missing date column"):
        read_fred_csv(fred)


def test_bad_date_names_row_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "fred_DGS10.csv", "date,value\n2020-01-01,1\n2020-13-01,2\n")
    with pytest.raises(
        SourceError,
        match=r"fred_DGS10\.csv: unparseable date in column 'date' .* "
        r"at row 1 \(line 3\): '2020-13-01'",
    ):
        read_fred_csv(path)
    yahoo = _write(
        tmp_path / "cl.csv",
        "Date,Close,High,Low,Open,Volume\n2020-01-02,1,1,1,1,1\n\n2020-01-03,1,1,1,1,1\n",
    )
    with pytest.raises(SourceError, match=r"cl\.csv: unparseable date .* at row 1 \(line 3\): ''"):
        read_yahoo(yahoo, "CL")
    station = tmp_path / "stations"
    station.mkdir()
    _write(station / "USC00130112.txt", "19850501\t  211\t  128\t  107\n1985-05-02\t1\t1\t1\n")
    with pytest.raises(
        SourceError,
        match=r"USC00130112\.txt: unparseable date .* at row 1 \(line 2\): '1985-05-02'",
    ):
        read_ghcn_txt_dir(station, "iowa")


def test_bad_number_names_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "zc.csv", "Date,Close,High,Low,Open,Volume\n2020-01-02,1,n/a,1,1,1\n")
    with pytest.raises(
        SourceError,
        match=r"zc\.csv: unparseable number in column 'High' at row 0 \(line 2\): 'n/a'",
    ):
        read_yahoo(path, "ZC")
    mke = _write(tmp_path / "mke.csv", "date,PRCP,TMAX,TMIN\n2020-01-01,0,32,\n")
    with pytest.raises(SourceError, match=r"column 'TMIN' at row 0 \(line 2\): ''"):
        read_milwaukee_csv(mke)


def test_duplicate_key_raises(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "es.csv",
        "Date,Close,High,Low,Open,Volume\n2020-01-02,1,1,1,1,1\n2020-01-02,2,2,2,2,2\n",
    )
    with pytest.raises(
        SourceError,
        match=r"es\.csv: duplicate date at row 0 \(line 2\): '2020-01-02'; row 1 \(line 3\)",
    ):
        read_yahoo(path, "ES")
    station = tmp_path / "stations"
    station.mkdir()
    _write(station / "USC00110001.txt", "20000101\t1\t1\t1\n20000101\t2\t2\t2\n")
    with pytest.raises(SourceError, match=r"USC00110001\.txt: duplicate date at row 0 \(line 1\)"):
        read_ghcn_txt_dir(station, "illinois")
    parquet = tmp_path / "zs.parquet"
    pd.DataFrame(
        {c: [1.0, 2.0] for c in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex(["2020-01-01 21:00", "2020-01-01 21:00"], name="datetime"),
    ).to_parquet(parquet)
    with pytest.raises(SourceError, match=r"zs\.parquet: duplicate bar label at row 0: "):
        read_tradingview(parquet, "ZS")


def test_conflicting_dexbzus_overlap_raises(tmp_path: Path) -> None:
    old = tmp_path / DEX_OLD.name
    old.write_bytes(DEX_OLD.read_bytes().replace(b"\n2021-06-01,5.1631\n", b"\n2021-06-01,9.9\n"))
    assert old.read_bytes() != DEX_OLD.read_bytes()
    with pytest.raises(SourceError) as info:
        read_fred_many([old, DEX_NEW])
    message = str(info.value)
    assert "DEXBZUS on 2021-06-01" in message
    assert f"{old}=9.9" in message
    assert f"{DEX_NEW}=5.1631" in message


def test_other_malformed_inputs(tmp_path: Path) -> None:
    native = _write(tmp_path / "n.csv", "DATE,DGS10\n2020-01-01,1\n")
    with pytest.raises(SourceError, match=r"series_id 'DGS2' disagrees with header 'DGS10'"):
        read_fred_csv(native, series_id="DGS2")
    anonymous = _write(tmp_path / "rates.csv", "date,value\n2020-01-01,1\n")
    with pytest.raises(SourceError, match=r"rates\.csv: series id is not in the header"):
        read_fred_csv(anonymous)
    station = tmp_path / "stations"
    station.mkdir()
    _write(station / "USC00130112.txt", "19850501\t211\t128\n")
    with pytest.raises(SourceError, match=r"expected 4 tab-separated fields .*, found 3"):
        read_ghcn_txt_dir(station, "iowa")
    parquet = tmp_path / "tz.parquet"
    pd.DataFrame(
        {c: [1.0] for c in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex(["2020-01-01 21:00"], tz="UTC", name="datetime"),
    ).to_parquet(parquet)
    with pytest.raises(SourceError, match=r"tz\.parquet: index must be naive bar label"):
        read_tradingview(parquet, "ZL")
    not_parquet = _write(tmp_path / "bad.parquet", "hello")
    with pytest.raises(SourceError, match=r"bad\.parquet: cannot read parquet"):
        read_tradingview(not_parquet, "ZL")
