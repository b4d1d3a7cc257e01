"""Write-audit-publish on the real DuckDB: the published warehouse changes all at once or not.

Each test copies the session's published warehouse, runs the documented user-file path
(``source: files``) through ``build_warehouse`` (the same load, gate, deploy, assertion
and publish code the workflow's jobs run) and compares a fingerprint of every published
table and view before and after.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from zlflow.errors import AssertionFailed, SourceError
from zlflow.objects import deploy_order, sql_objects
from zlflow.pipeline import build_warehouse
from zlflow.warehouse.bigquery import BigQueryWarehouse
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import SqlObject
from zlflow.warehouse.wap import LAYERS, candidate_datasets, split_objects

ROOT = Path(__file__).resolve().parents[1]
# The audit log: a failed assertion records its failure there, for the alerts view.
AUDIT_LOG = "market_data.assertion_results"


def published_fingerprints(path: Path, datasets: dict[str, str]) -> dict[str, str]:
    """Row count and a sum of row hashes of every published table and view in the layers.

    One thread, so views that sum floats give the same bits on every read; a row hash
    rather than Arrow bytes, whose null slots may hold anything.
    """
    with DuckDBWarehouse(path, datasets, threads=1) as wh:
        names = (
            wh.query_native(
                "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
                "WHERE table_schema IN (SELECT UNNEST($s)) ORDER BY ALL",
                {"s": [datasets[k] for k in LAYERS]},
            )
            .column("name")
            .to_pylist()
        )
        return {
            name: str(
                wh.query_native(
                    f"SELECT COUNT(*), SUM(hash(x)::HUGEINT) FROM {name} AS x"
                ).to_pylist()
            )
            for name in names
            if name != AUDIT_LOG
        }


@pytest.fixture
def copy(built_warehouse: Path, tmp_path: Path) -> Path:
    """A private copy of the session's published warehouse."""
    target = tmp_path / "wh.duckdb"
    shutil.copy(built_warehouse, target)
    return target


def user_zl(path: Path, sample_dir: str, transform: Any = None) -> dict[str, Any]:
    """The bundled ZL bars as a user's CSV (optionally changed), and its files: entry."""
    bars = pd.read_parquet(Path(sample_dir, "zl_daily_tradingview.parquet")).reset_index()
    if transform is not None:
        bars = transform(bars)
    bars.to_csv(path, index=False)
    return {
        "raw_futures_daily": [
            {
                "path": str(path),
                "symbol": "ZL",
                "source": "tradingview",
                "label_kind": "session_open_sao_paulo",
                "columns": {"date": "datetime"},
            }
        ]
    }


def build(path: Path, config: dict[str, Any], files: dict[str, Any], snapshots: Path) -> None:
    with DuckDBWarehouse(path, config["datasets"], threads=1) as wh:
        build_warehouse(wh, config | {"source": "files", "files": files}, snapshots, ROOT / "sql")


def test_a_failed_assertion_publishes_nothing_and_keeps_the_candidate(
    copy: Path, config: dict[str, Any], tmp_path: Path
) -> None:
    """ZL in cents instead of dollars for the whole file: every bar agrees with its
    neighbours, so the gate lets it through, and the price-bounds assertion stops it."""
    before = published_fingerprints(copy, config["datasets"])

    def in_cents(bars: pd.DataFrame) -> pd.DataFrame:
        return bars.assign(**{c: bars[c] * 100 for c in ("open", "high", "low", "close")})

    files = user_zl(tmp_path / "zl.csv", config["sample_dir"], in_cents)
    with pytest.raises(AssertionFailed) as info:
        build(copy, config, files, tmp_path / "snapshots")
    message = str(info.value)
    assert message.startswith("assertion staging_price_bounds failed")
    assert "Nothing was published: every published table and view is as before" in message
    assert "candidate datasets market_data_candidate, staging_candidate" in message
    # Each offending staged bar names the raw file and row it came from.
    header, first = message.splitlines()[2:4]
    assert header.split()[-2:] == ["source_file", "source_row"]
    assert first.split()[-2] == "zl.csv" and first.split()[-1].isdigit()
    assert published_fingerprints(copy, config["datasets"]) == before
    with DuckDBWarehouse(copy, candidate_datasets(config["datasets"])) as wh:
        closes = wh.query_arrow(
            "SELECT MAX(close) AS top FROM ${staging}.futures_daily WHERE symbol = 'ZL'"
        )
        assert closes.column("top")[0].as_py() > 1000  # the candidate kept the new data
        failed = wh.query_arrow(
            "SELECT status FROM ${published_market_data}.assertion_results "
            "WHERE assertion = 'staging_price_bounds'"
        )
        assert failed.column("status").to_pylist() == ["failed"]


def test_a_refused_file_touches_nothing(copy: Path, config: dict[str, Any], tmp_path: Path) -> None:
    before = published_fingerprints(copy, config["datasets"])

    def broken(bars: pd.DataFrame) -> pd.DataFrame:
        bars.loc[10, "close"] = -1.0
        bars.loc[20, "high"] = 1.0
        return bars

    files = user_zl(tmp_path / "zl.csv", config["sample_dir"], broken)
    with pytest.raises(SourceError) as info:
        build(copy, config, files, tmp_path / "snapshots")
    assert "2 problem(s), nothing loaded into raw_futures_daily" in str(info.value)
    assert "row 10 (line 12)" in str(info.value) and "row 20 (line 22)" in str(info.value)
    assert published_fingerprints(copy, config["datasets"]) == before
    assert not (tmp_path / "snapshots" / "raw_futures_daily.parquet").exists()


def test_a_shuffled_user_file_publishes_identical_tables(
    copy: Path, config: dict[str, Any], tmp_path: Path
) -> None:
    """A user's ZL file, then the same bars in random order: every published object is
    identical; raw differs only in its lineage column (the row of the file)."""
    files = user_zl(tmp_path / "zl.csv", config["sample_dir"])
    build(copy, config, files, tmp_path / "snapshots")
    ordered = published_fingerprints(copy, config["datasets"])
    user_zl(
        tmp_path / "zl.csv", config["sample_dir"], lambda b: b.sample(frac=1.0, random_state=11)
    )
    build(copy, config, files, tmp_path / "snapshots")
    shuffled = published_fingerprints(copy, config["datasets"])
    assert {k for k in ordered if ordered[k] != shuffled[k]} == {"market_data.raw_futures_daily"}
    with DuckDBWarehouse(copy, config["datasets"]) as wh:
        lineage = wh.query_arrow(
            "SELECT DISTINCT source_file, MAX(source_row) AS last FROM "
            "${market_data}.raw_futures_daily WHERE symbol = 'ZL' GROUP BY source_file"
        )
        assert lineage.to_pylist() == [{"source_file": "zl.csv", "last": 4999}]


PUBLISH_CHILD = """
import json
import sys

from zlflow.objects import deploy_order, sql_objects
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import SqlObject
from zlflow.warehouse.wap import LAYERS, candidate_datasets, split_objects

path, sql_dir, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
datasets = config["datasets"]
objects = sql_objects(sql_dir, config["horizons"])
order = [k for k in deploy_order(objects) if objects[k].dataset in LAYERS]
with DuckDBWarehouse(path, datasets) as wh, wh.using(candidate_datasets(datasets)):
    loaded = wh.query_native(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $s",
        {"s": wh.datasets["market_data"]},
    ).column(0).to_pylist()
    batch = {f"market_data.{t}": None for t in loaded} | {k: objects[k] for k in order}
    print("publishing", flush=True)
    while True:  # publish again and again until killed
        wh.publish(*split_objects(batch))
        print("published", flush=True)
"""


def batch(wh: DuckDBWarehouse, config: dict[str, Any]) -> dict[str, Any]:
    """Every candidate object, as the publish job gets them (see PUBLISH_CHILD)."""
    objects = sql_objects(ROOT / "sql", config["horizons"])
    order = [k for k in deploy_order(objects) if objects[k].dataset in LAYERS]
    loaded = (
        wh.query_native(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $s",
            {"s": wh.datasets["market_data"]},
        )
        .column(0)
        .to_pylist()
    )
    return {f"market_data.{t}": None for t in loaded} | {k: objects[k] for k in order}


def publish_in_child(path: Path, config: dict[str, Any], seconds: float | None) -> None:
    """Run the publish loop in a child process and SIGKILL it after ``seconds`` (None:
    once its first publish has committed)."""
    settings = json.dumps({"datasets": config["datasets"], "horizons": config["horizons"]})
    child = subprocess.Popen(
        [sys.executable, "-c", PUBLISH_CHILD, str(path), str(ROOT / "sql"), settings],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "publishing"
    if seconds is None:
        assert child.stdout.readline().strip() == "published"
    else:
        time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)


def test_a_kill_during_publish_leaves_the_old_or_the_new_state(
    copy: Path, config: dict[str, Any], tmp_path: Path
) -> None:
    """SIGKILL at several moments of a publish loop: each time the published warehouse
    opens as exactly the old state or exactly the new one, never a mix."""
    old = published_fingerprints(copy, config["datasets"])
    with DuckDBWarehouse(copy, candidate_datasets(config["datasets"])) as wh:
        for key, name in (
            ("market_data", "raw_futures_daily"),
            ("staging", "futures_daily"),
            ("features", "zl_daily_v1"),
            ("training", "zl_targets"),
        ):  # a candidate that differs from what is published in every layer
            wh.execute(f"DELETE FROM {wh.table(key, name)} WHERE rowid % 3 = 0")
    # The new state: a second copy, published to the end in this process.
    finished = tmp_path / "finished.duckdb"
    shutil.copy(copy, finished)
    with (
        DuckDBWarehouse(finished, config["datasets"]) as wh,
        wh.using(candidate_datasets(config["datasets"])),
    ):
        wh.publish(*split_objects(batch(wh, config)))
    new = published_fingerprints(finished, config["datasets"])
    assert new != old
    states = []
    # A publish takes about 2 s: the first kills land inside its transaction, the last
    # right after it committed.
    for delay in (0.0, 0.4, None):
        publish_in_child(copy, config, delay)
        now = published_fingerprints(copy, config["datasets"])
        assert now in (old, new), f"a mix of old and new objects after {delay} s"
        states.append("old" if now == old else "new")
    assert states[0] == "old" and states[-1] == "new", states  # killed before and after a commit


def test_bigquery_publishes_the_candidate_on_the_emulator(
    bigquery_emulator: str, tmp_path: Path
) -> None:
    """A new table is copied, an existing one moves in the transaction, the view is
    recreated over the published datasets; the candidate stays as it was."""
    names = ("market_data", "staging", "features", "training", "forecasts", "api")
    datasets = {k: f"wap_{k}" for k in names}
    client = bigquery.Client(
        project="zlflow-wap",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bigquery_emulator),
    )
    view = SqlObject(
        path=Path("features/v.sql"),
        dataset="features",
        name="v",
        text="SELECT x * 10 AS y FROM ${market_data}.raw_a",
        materialize="view",
    )
    with client, BigQueryWarehouse("zlflow-wap", "US", candidate_datasets(datasets), client) as wh:
        for values in ([1, 2], [3, 4, 5]):  # first publish creates, the second replaces
            pd.DataFrame({"x": values}).to_parquet(tmp_path / "a.parquet")
            wh.load_parquet("market_data", "raw_a", tmp_path / "a.parquet")
            wh.publish([("market_data", "raw_a")], [view])
            published = wh.query_arrow("SELECT y FROM ${published_features}.v ORDER BY y")
            assert published.column("y").to_pylist() == [10 * v for v in values]
            # Counted by a query: the emulator's row-count metadata ignores DELETE.
            rows = wh.query_arrow("SELECT COUNT(*) AS n FROM ${published_market_data}.raw_a")
            assert rows.column("n").to_pylist() == [len(values)]
        assert wh.table_info("market_data", "raw_a").rows == 3  # the candidate is kept
        jobs = [job.query for job in client.list_jobs() if getattr(job, "query", None)]
        assert any(q.startswith("BEGIN TRANSACTION;") for q in jobs)
