"""The DuckDB backend: atomic replaces, clear errors, and a lock instead of a crash."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from zlflow.errors import SqlError, ZlflowError
from zlflow.loading import load_frame, write_parquet_atomic
from zlflow.warehouse import Warehouse, connect
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import read_sql_object

DATASETS = {
    "market_data": "market_data",
    "staging": "staging",
    "features": "features",
    "training": "training",
    "forecasts": "forecasts",
    "api": "api",
}


def sql_file(tmp_path: Path, dataset: str, name: str, text: str) -> Path:
    path = tmp_path / "sql" / dataset / f"{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_deploy_query_and_describe(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb", DATASETS) as wh:
        frame = pd.DataFrame({"symbol": ["ZL", "ZL"], "close": [50.0, 51.0]})
        info = load_frame(wh, "market_data", "prices", frame, tmp_path / "prices.parquet")
        assert (info.rows, info.kind) == (2, "table")
        path = sql_file(
            tmp_path,
            "staging",
            "avg_close",
            "-- materialize: view\nSELECT symbol, AVG(close) AS avg_close "
            "FROM ${market_data}.prices GROUP BY symbol",
        )
        info = wh.deploy(read_sql_object(path))
        # A view is not counted (that would evaluate it): its marker has no row count.
        assert (info.kind, info.rows, info.columns[1][0]) == ("view", None, "avg_close")
        result = wh.query_arrow(
            "SELECT avg_close FROM ${staging}.avg_close WHERE symbol = @s", {"s": "ZL"}
        )
        assert result.column("avg_close").to_pylist() == [50.5]


def test_a_failed_deploy_leaves_the_previous_object(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb", DATASETS) as wh:
        good = sql_file(tmp_path, "staging", "t", "-- materialize: table\nSELECT 1 AS x")
        wh.deploy(read_sql_object(good))
        bad = sql_file(tmp_path, "staging", "t", "-- materialize: table\nSELECT 1 / 0 AS x")
        with pytest.raises(SqlError, match=r"t\.sql: deploying staging\.t failed"):
            wh.deploy(read_sql_object(bad))
        assert wh.query_arrow("SELECT x FROM ${staging}.t").column("x").to_pylist() == [1]


def test_a_failed_load_leaves_the_previous_table(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb", DATASETS) as wh:
        load_frame(wh, "market_data", "t", pd.DataFrame({"x": [1, 2]}), tmp_path / "t.parquet")
        broken = tmp_path / "broken.parquet"
        broken.write_bytes(b"PAR1 this is not parquet")
        with pytest.raises(ZlflowError, match=r"loading .*broken\.parquet into market_data\.t"):
            wh.load_parquet("market_data", "t", broken)
        assert wh.table_info("market_data", "t").rows == 2


def test_atomic_parquet_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    write_parquet_atomic(pa.table({"x": [1]}), target)
    before = target.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - any writer failure must leave the file
        write_parquet_atomic(pa.table({"x": [1]}), target, compression="no-such-codec")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_missing_table_and_unknown_backend_are_clear(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb", DATASETS) as wh:
        with pytest.raises(ZlflowError, match=r"staging\.nope does not exist"):
            wh.table_info("staging", "nope")
        with pytest.raises(KeyError, match="unknown dataset key"):
            wh.table("nowhere", "x")
    with pytest.raises(ZlflowError, match="backend 'oracle' is not available"):
        connect({"backend": "oracle", "datasets": DATASETS})


def _hold_lock(
    path: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event
) -> None:
    with DuckDBWarehouse(path, DATASETS):
        ready.set()
        release.wait(30)


def test_a_second_process_waits_for_the_lock_and_times_out_clearly(tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(ZlflowError, match="stayed locked"):
            DuckDBWarehouse(path, DATASETS, lock_timeout_s=0.5)
    finally:
        release.set()
        holder.join(30)
    with DuckDBWarehouse(path, DATASETS, lock_timeout_s=5) as wh:
        assert wh.table_info is not None


def test_redeploying_replaces_and_may_switch_between_table_and_view(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb", DATASETS) as wh:
        for materialize, value in (("table", 1), ("table", 2), ("view", 3), ("table", 4)):
            path = sql_file(
                tmp_path, "staging", "t", f"-- materialize: {materialize}\nSELECT {value} AS x"
            )
            info = wh.deploy(read_sql_object(path))
            assert info.kind == materialize
            assert wh.query_arrow("SELECT x FROM ${staging}.t").column("x").to_pylist() == [value]


def test_merge_is_idempotent_updates_revisions_and_rejects_bad_input(tmp_path: Path) -> None:
    snapshot = tmp_path / "rows.parquet"
    frame = pd.DataFrame({"day": ["d1", "d2"], "model": ["m", "m"], "value": [1.0, 2.0]})
    with DuckDBWarehouse(tmp_path / "w.duckdb", DATASETS) as wh:
        write_parquet_atomic(frame, snapshot)
        first = wh.merge_parquet("forecasts", "t", snapshot, ["day", "model"])
        assert (first.inserted, first.updated, first.unchanged, first.rows) == (2, 0, 0, 2)
        again = wh.merge_parquet("forecasts", "t", snapshot, ["day", "model"])
        assert (again.inserted, again.updated, again.unchanged, again.rows) == (0, 0, 2, 2)
        revised = pd.DataFrame({"day": ["d2", "d3"], "model": ["m", "m"], "value": [2.5, 3.0]})
        write_parquet_atomic(revised, snapshot)
        merged = wh.merge_parquet("forecasts", "t", snapshot, ["day", "model"])
        assert (merged.inserted, merged.updated, merged.unchanged, merged.rows) == (1, 1, 0, 3)
        before = wh.query_arrow("SELECT * FROM ${forecasts}.t ORDER BY day")
        bad_schema = pd.DataFrame({"day": ["d4"], "model": ["m"], "value": ["oops"]})
        write_parquet_atomic(bad_schema, snapshot)
        with pytest.raises(ZlflowError, match=r"does not match forecasts\.t"):
            wh.merge_parquet("forecasts", "t", snapshot, ["day", "model"])
        duplicated = pd.DataFrame({"day": ["d5", "d5"], "model": ["m", "m"], "value": [1.0, 2.0]})
        write_parquet_atomic(duplicated, snapshot)
        with pytest.raises(ZlflowError, match="1 duplicate key"):
            wh.merge_parquet("forecasts", "t", snapshot, ["day", "model"])
        assert wh.query_arrow("SELECT * FROM ${forecasts}.t ORDER BY day").equals(before)


def test_no_progress_bar_unless_stdout_is_a_terminal() -> None:
    """A job log is not a terminal: DuckDB's redrawn bar would fill it with updates.

    A child process whose stdout is a pipe, as a Snakemake job's is when logged.
    """
    script = (
        "from zlflow.warehouse.duckdb import DuckDBWarehouse\n"
        f"with DuckDBWarehouse(':memory:', {DATASETS!r}) as wh:\n"
        "    print(wh.con.execute(\"SELECT current_setting('enable_progress_bar')\").fetchall())\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert child.stdout.strip() == "[(False,)]"


def check_lineage_columns_are_added(wh: Warehouse, tmp_path: Path) -> None:
    """A raw table loaded before it had lineage takes a file with lineage: the merge adds
    the columns (older rows keep NULL), while any other new column is still refused."""
    snapshot = tmp_path / "raw.parquet"
    old = pd.DataFrame({"series_id": ["A", "B"], "value": [1.0, 2.0]})
    write_parquet_atomic(old, snapshot)
    wh.merge_parquet("forecasts", "raw_t", snapshot, ["series_id"])
    new = pd.DataFrame(
        {"series_id": ["B", "C"], "value": [2.0, 3.0], "source_file": "f.csv", "source_row": [0, 1]}
    )
    write_parquet_atomic(new, snapshot)
    merged = wh.merge_parquet("forecasts", "raw_t", snapshot, ["series_id"])
    assert (merged.inserted, merged.updated, merged.unchanged, merged.rows) == (1, 1, 0, 3)
    rows = wh.query_arrow("SELECT * FROM ${forecasts}.raw_t ORDER BY series_id").to_pylist()
    assert rows == [
        {"series_id": "A", "value": 1.0, "source_file": None, "source_row": None},
        {"series_id": "B", "value": 2.0, "source_file": "f.csv", "source_row": 0},
        {"series_id": "C", "value": 3.0, "source_file": "f.csv", "source_row": 1},
    ]
    write_parquet_atomic(new.assign(vintage="2024-01-01"), snapshot)
    with pytest.raises(ZlflowError, match=r"does not match .*unexpected \[\('vintage'"):
        wh.merge_parquet("forecasts", "raw_t", snapshot, ["series_id"])


def test_a_merge_adds_lineage_columns_an_older_table_lacks(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb", DATASETS) as wh:
        check_lineage_columns_are_added(wh, tmp_path)
