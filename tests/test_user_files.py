"""Bring your own data: user files through the one validation gate, the CLI and the guard.

Every bad file is a small real file written to ``tmp_path``; loads go into a real DuckDB,
and a refused load must leave the table exactly as it was (compared by fingerprint).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zlflow.assertions import failure, run_assertion, with_lineage
from zlflow.calendar import trading_days
from zlflow.errors import ConfigError, SourceError
from zlflow.export import fingerprint
from zlflow.loading import ShrinkGuard, write_parquet_atomic
from zlflow.markers import write_json_atomic
from zlflow.models.tft.forecaster import _atomic_torch_save
from zlflow.pipeline import load_raw
from zlflow.reference import config_subset
from zlflow.sources.files import read_file, repairs, spec_from_entry
from zlflow.sources.ingest import ingest
from zlflow.validate import main as validate_main
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import SqlObject

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
DATASETS = {"market_data": "market_data"}


def bars(n: int = 60, seed: int = 1) -> pd.DataFrame:
    """Plausible daily bars on consecutive CBOT sessions, as a user's CSV would hold them."""
    days = trading_days("CBOT_Agriculture", "2024-01-02", "2024-06-28")[:n]
    rng = np.random.default_rng(seed)
    close = 45.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * 1.004
    low = np.minimum(open_, close) * 0.996
    return pd.DataFrame(
        {
            "Date": days.strftime("%Y-%m-%d"),
            "Open": open_.round(2),
            "High": high.round(2),
            "Low": low.round(2),
            "Settle": close.round(2),
            "Volume": rng.integers(1000, 90000, n),
        }
    )


ENTRY = {
    "symbol": "ZL",
    "columns": {
        "date": "Date",
        "close": "Settle",
        "open": "Open",
        "high": "High",
        "low": "Low",
        "volume": "Volume",
    },
}


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def read(path: Path, **extra: object) -> pd.DataFrame:
    return read_file(spec_from_entry("raw_futures_daily", {"path": str(path), **ENTRY, **extra}))


def problems_of(path: Path, **extra: object) -> str:
    with pytest.raises(SourceError) as info:
        read(path, **extra)
    return str(info.value)


def test_a_valid_file_reads_with_lineage(tmp_path: Path) -> None:
    frame = read(write_csv(tmp_path / "zl.csv", bars()))
    assert len(frame) == 60
    assert set(frame["source"]) == {"file"} and set(frame["label_kind"]) == {"trade_date"}
    assert frame["source_file"].eq("zl.csv").all()
    assert frame["source_row"].tolist() == list(range(60))


def test_every_problem_in_a_file_is_reported_in_one_pass(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "zl.csv", bars())
    lines = path.read_text().splitlines()
    lines[3] = lines[3][: lines[3].index(",", len("2024-01-05,") + 1) + 3]  # cut mid-number
    cells = lines[5].split(",")
    cells[4] = "4x.1"  # Settle
    lines[5] = ",".join(cells)
    cells = lines[7].split(",")
    cells[2], cells[3] = "40.0", "50.0"  # High below Low
    lines[7] = ",".join(cells)
    cells = lines[9].split(",")
    cells[4] = "-45.0"
    lines[9] = ",".join(cells)
    lines.insert(12, lines[11])  # a duplicated bar
    path.write_text("\n".join(lines) + "\n")
    text = problems_of(path)
    first = text.splitlines()[0]
    assert first.startswith(f"{path}: 5 problem(s), nothing loaded into raw_futures_daily")
    assert "python -m zlflow.validate" in first
    assert "truncated line (fewer fields than the 6 columns) at row 2 (line 4): 3 field(s)" in text
    assert "unparseable number in column 'close' at row 4 (line 6): '4x.1'" in text
    assert "high must be >= low at row 6 (line 8): bar_label='2024-01-10 00:00:00'" in text
    assert "prices must be > 0" in text and "row 8 (line 10)" in text
    assert "duplicate date at row 10 (line 12): '2024-01-17'; row 11 (line 13)" in text


def test_problems_are_capped(tmp_path: Path) -> None:
    frame = bars()
    frame.loc[:29, "Date"] = "not a date"
    text = problems_of(write_csv(tmp_path / "zl.csv", frame))
    assert "and 25 more (30 rows in all)" in text
    assert len(text.splitlines()) < 25


@pytest.mark.parametrize("kind", ["zero bytes", "header only", "empty parquet"])
def test_empty_files_are_refused(tmp_path: Path, kind: str) -> None:
    if kind == "zero bytes":
        path = tmp_path / "zl.csv"
        path.write_text("")
        assert "empty file: no header and no rows" in problems_of(path)
        return
    if kind == "header only":
        path = write_csv(tmp_path / "zl.csv", bars().iloc[:0])
    else:
        path = tmp_path / "zl.parquet"
        bars().iloc[:0].to_parquet(path)
    assert "no data rows: an empty file would remove every row of its series" in problems_of(path)


def test_a_nan_close_in_parquet_names_row_and_column(tmp_path: Path) -> None:
    frame = bars()
    frame["Settle"] = frame["Settle"].astype(float)
    frame.loc[17, "Settle"] = np.nan
    path = tmp_path / "zl.parquet"
    frame.to_parquet(path)
    assert "close: missing value at row 17: nan" in problems_of(path)


def test_unit_jump_and_calendar_gap(tmp_path: Path) -> None:
    frame = bars()
    frame.loc[20, ["Open", "High", "Low", "Settle"]] *= 100  # cents in a dollar file
    text = problems_of(write_csv(tmp_path / "jump.csv", frame))
    assert "close jumps more than x3 against the previous bar (a unit change?) at row 20" in text
    gap = bars().drop(index=range(25, 47))  # a month missing
    text = problems_of(write_csv(tmp_path / "gap.csv", gap))
    assert "gap of more than 10 exchange sessions (CBOT_Agriculture) between bars at row 25" in text
    assert "22 sessions missing after 2024-02-06" in text


def test_the_gap_check_takes_each_symbols_exchange_calendar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bars of a Shanghai-listed symbol skip the lunar new year: 12 CBOT sessions but 6
    Shanghai ones are missing between Jan 31 and Feb 19, 2024. The default calendar
    refuses the file; with calendar.exchanges naming SSE for the symbol it loads."""
    days = trading_days("SSE", "2024-01-02", "2024-03-29")
    days = days[(days < "2024-02-01") | (days > "2024-02-08")]
    frame = bars(len(days)).assign(Date=days.strftime("%Y-%m-%d"))
    path = write_csv(tmp_path / "zz.csv", frame)
    files = {"raw_futures_daily": [{"path": str(path), **ENTRY, "symbol": "ZZ"}]}
    snapshot = tmp_path / "raw.parquet"
    with DuckDBWarehouse(tmp_path / "wh.duckdb", DATASETS) as wh:
        with pytest.raises(SourceError) as info:
            load_raw(wh, "raw_futures_daily", SAMPLE, snapshot, files)
        assert "gap of more than 10 exchange sessions (CBOT_Agriculture)" in str(info.value)
        assert "12 sessions missing after 2024-01-31" in str(info.value)
        calendar = {"exchange": "CBOT_Agriculture", "exchanges": {"ZZ": "SSE"}}
        loaded = load_raw(wh, "raw_futures_daily", SAMPLE, snapshot, files, calendar=calendar)
    assert loaded.info.rows == 34232 + len(frame)  # the bundled sample, gap-checked on CBOT
    # The live path's gate (ingest) takes the same calendars.
    entry = {"path": str(path), **ENTRY, "symbol": "ZZ"}
    bars_zz = read_file(replace(spec_from_entry("raw_futures_daily", entry), exchange="SSE"))
    with DuckDBWarehouse(tmp_path / "live.duckdb", DATASETS) as wh:
        with pytest.raises(SourceError, match=r"12 sessions missing after 2024-01-31"):
            ingest(wh, "raw_futures_daily", bars_zz, tmp_path / "live.parquet", "vendor:ZZ")
        merged = ingest(
            wh,
            "raw_futures_daily",
            bars_zz,
            tmp_path / "live.parquet",
            "vendor:ZZ",
            calendar=calendar,
        )
    assert merged.inserted == len(frame)
    args = [str(path), "--table", "raw_futures_daily", "--symbol", "ZZ"]
    args += [f"--column={k}={v}" for k, v in ENTRY["columns"].items()]
    assert validate_main(args) == 1
    assert validate_main([*args, "--exchange", "SSE"]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok, {len(frame)} rows")
    # The staging calendar does not depend on the gate's calendars: nothing rebuilds.
    assert config_subset({"calendar": calendar}, "cbot_calendar") == {
        "calendar": {"exchange": "CBOT_Agriculture"}
    }


def test_the_range_repair_is_opt_in_and_counted(tmp_path: Path) -> None:
    frame = bars()
    frame.loc[30, "Open"] = frame.loc[30, "High"] + 0.1  # Yahoo-style: outside the range
    path = write_csv(tmp_path / "zl.csv", frame)
    assert "high must be >= max(open, close) (sources repaired by widen_range: none)" in (
        problems_of(path)
    )
    repaired = read(path, source="vendor", repair=["widen_range"])
    assert len(repaired) == 60
    assert repairs(repaired, "raw_futures_daily", frozenset({"vendor"})) == {"widen_range": 1}


def test_config_entries_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"needs \['symbol'\]"):
        spec_from_entry("raw_futures_daily", {"path": "x.csv"})
    with pytest.raises(ConfigError, match=r"format 'xlsx' is not one of"):
        spec_from_entry("raw_fred", {"path": "x.xlsx", "series": "DGS10"})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['symbol'\] for raw_fred"):
        spec_from_entry("raw_fred", {"path": "x.csv", "series": "DGS10", "symbol": "ZL"})


def test_other_tables_from_csv_and_parquet(tmp_path: Path) -> None:
    fred = tmp_path / "rates.csv"
    fred.write_text("date,value\n2024-01-02,4.1\n2024-01-03,\n2024-01-04,4.2\n")
    frame = read_file(spec_from_entry("raw_fred", {"path": str(fred), "series": "DGS10"}))
    assert frame["series_id"].eq("DGS10").all() and frame["value"].isna().sum() == 1
    weather = tmp_path / "farm.parquet"
    pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "tmax_c": [3.0, 99.0],
            "tmin_c": [-2.0, -1.0],
            "prcp_mm": [0.0, 1.5],
        }
    ).to_parquet(weather)
    spec = spec_from_entry(
        "raw_weather", {"path": str(weather), "station": "FARM1", "region": "iowa"}
    )
    with pytest.raises(SourceError, match=r"tmax_c: tmax_c outside \[-90.0, 60.0\] at row 1: 99.0"):
        read_file(spec)
    cot = tmp_path / "cot.csv"
    cot.write_text("date,symbol,noncomm_net_pct\n2024-01-02,ZL,12.5\n2024-01-02,ZL,13.0\n")
    with pytest.raises(SourceError, match=r"duplicate \(symbol, date\) at row 0 \(line 2\)"):
        read_file(spec_from_entry("raw_cot", {"path": str(cot)}))


def test_the_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_csv(tmp_path / "zl.csv", bars())
    args = [str(good), "--table", "raw_futures_daily", "--symbol", "ZL"]
    args += [f"--column={k}={v}" for k, v in ENTRY["columns"].items()]
    assert validate_main(args) == 0
    assert (
        capsys.readouterr().out
        == f"{good}: ok, 60 rows for raw_futures_daily, 2024-01-02..2024-03-27\n"
    )
    bad = bars()
    bad.loc[3, "Settle"] = -1.0
    write_csv(good, bad)
    assert validate_main(args) == 1
    assert "prices must be > 0" in capsys.readouterr().err
    # The module runs as a command, as the README shows.
    done = subprocess.run(
        [sys.executable, "-m", "zlflow.validate", *args], capture_output=True, text=True
    )
    assert done.returncode == 1 and "row 3 (line 5)" in done.stderr


def _raw(path: Path) -> str:
    with DuckDBWarehouse(path, DATASETS) as wh:
        return fingerprint(wh.query_arrow("SELECT * FROM ${market_data}.raw_futures_daily"))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse whose futures table was loaded from the bundled sample."""
    folder = tmp_path_factory.mktemp("user_files")
    with DuckDBWarehouse(folder / "wh.duckdb", DATASETS) as wh:
        load_raw(wh, "raw_futures_daily", SAMPLE, folder / "raw.parquet")
    return folder / "wh.duckdb"


def test_a_bad_user_file_leaves_the_table_and_snapshot_untouched(
    loaded: Path, tmp_path: Path
) -> None:
    before = _raw(loaded)
    frame = bars()
    frame.loc[5, "High"] = 1.0
    path = write_csv(tmp_path / "zl.csv", frame)
    files = {"raw_futures_daily": [{"path": str(path), **ENTRY}]}
    with DuckDBWarehouse(loaded, DATASETS) as wh, pytest.raises(SourceError, match="line 7"):
        load_raw(wh, "raw_futures_daily", SAMPLE, tmp_path / "raw.parquet", files)
    assert _raw(loaded) == before
    assert not (tmp_path / "raw.parquet").exists()


def test_the_shrink_guard_names_its_override(loaded: Path, tmp_path: Path) -> None:
    """A user ZL file of 60 bars in 2024 would drop 20 years of bundled ZL history."""
    before = _raw(loaded)
    path = write_csv(tmp_path / "zl.csv", bars())
    files = {"raw_futures_daily": [{"path": str(path), **ENTRY}]}
    with DuckDBWarehouse(loaded, DATASETS) as wh:
        with pytest.raises(SourceError) as info:
            load_raw(wh, "raw_futures_daily", SAMPLE, tmp_path / "raw.parquet", files)
        assert "would remove 4,940 of 5,000 ZL rows (99%)" in str(info.value)
        assert "run again with --config allow_shrink=true" in str(info.value)
    assert _raw(loaded) == before


def test_the_shrink_guard_refuses_lost_early_history(tmp_path: Path) -> None:
    frame = bars()
    first = write_csv(tmp_path / "zl.csv", frame)
    files = {"raw_futures_daily": [{"path": str(first), **ENTRY}]}
    with DuckDBWarehouse(tmp_path / "wh.duckdb", DATASETS) as wh:
        load_raw(wh, "raw_futures_daily", SAMPLE, tmp_path / "raw.parquet", files)
        write_csv(first, pd.concat([frame.iloc[1:], bars(61).iloc[60:]]))
        with pytest.raises(SourceError, match=r"ZL's history before 2024-01-03 \(loaded from"):
            load_raw(wh, "raw_futures_daily", SAMPLE, tmp_path / "raw.parquet", files)
        loaded = load_raw(
            wh,
            "raw_futures_daily",
            SAMPLE,
            tmp_path / "raw.parquet",
            files,
            ShrinkGuard(allow=True),
        )
    bundled_without_zl = 34232 - 5000
    assert loaded.info.rows == bundled_without_zl + 60


def test_a_shuffled_file_gives_the_same_rows(tmp_path: Path) -> None:
    frame = bars()
    ordered = read(write_csv(tmp_path / "a.csv", frame))
    shuffled = read(write_csv(tmp_path / "a.csv", frame.sample(frac=1.0, random_state=3)))
    data = [c for c in ordered.columns if c != "source_row"]  # lineage: the row in the file
    pd.testing.assert_frame_equal(ordered[data], shuffled[data])


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    """Snapshots, exports, sidecars, markers and model files get the mode a plain open() would."""
    old = os.umask(umask)
    try:
        write_parquet_atomic(pd.DataFrame({"a": [1]}), tmp_path / "x.parquet")
        write_json_atomic(tmp_path / "x.json", {"a": 1})
        _atomic_torch_save({"a": 1}, tmp_path / "x.pt")  # TFT weights
    finally:
        os.umask(old)
    for name in ("x.parquet", "x.json", "x.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask


def test_weather_and_positioning_rows_name_their_file_and_row(tmp_path: Path) -> None:
    """Loaded from user files, a station-day and a COT observation that an assertion
    returns are shown with the file and the row they came from."""
    days = pd.date_range("2024-01-01", periods=10, freq="D").strftime("%Y-%m-%d")
    weather = pd.DataFrame({"date": days, "tmax_c": 10.0, "tmin_c": 0.0, "prcp_mm": 1.0}).assign(
        tmax_c=lambda f: f["tmax_c"].where(f.index != 6, 38.5)
    )
    write_csv(tmp_path / "farm.csv", weather)
    weeks = pd.date_range("2024-01-02", periods=8, freq="7D").strftime("%Y-%m-%d")
    cot = pd.DataFrame({"date": weeks, "symbol": "ZL", "noncomm_net_pct": 12.0})
    write_csv(tmp_path / "cot.csv", cot.assign(noncomm_net_pct=[12, 13, 14, 61, 15, 16, 17, 18]))
    files = {
        "raw_weather": [{"path": str(tmp_path / "farm.csv"), "station": "FARM1", "region": "x"}],
        "raw_cot": [{"path": str(tmp_path / "cot.csv")}],
    }
    checks = {
        "hot_days": "SELECT station_id, obs_date, tmax_c FROM ${market_data}.raw_weather "
        "WHERE station_id = 'FARM1' AND tmax_c > 35",
        "crowded_longs": "SELECT CONCAT('COT_', symbol) AS series_id, DATE(report_date) AS "
        "obs_date, noncomm_net_pct FROM ${market_data}.raw_cot WHERE noncomm_net_pct > 50",
    }
    shown = {}
    with DuckDBWarehouse(tmp_path / "wh.duckdb", DATASETS) as wh:
        for table in ("raw_fred", *files):  # the lineage of macro rows reads both
            load_raw(
                wh, table, SAMPLE, tmp_path / f"{table}.parquet", files, ShrinkGuard(allow=True)
            )
        for name, sql in checks.items():
            check = SqlObject(Path(f"{name}.sql"), "assertions", name, sql, description=name)
            result = run_assertion(wh, check)
            shown[name] = str(
                failure(check, replace(result, sample=with_lineage(wh, result.sample)))
            )
    hot = shown["hot_days"].splitlines()
    assert hot[2].split()[-2:] == ["source_file", "source_row"]
    assert hot[3].split()[:2] == ["FARM1", "2024-01-07"] and hot[3].split()[-2:] == [
        "farm.csv",
        "6",
    ]
    crowded = shown["crowded_longs"].splitlines()
    assert crowded[3].split()[:2] == ["COT_ZL", "2024-01-23"]
    assert crowded[3].split()[-2:] == ["cot.csv", "3"]
