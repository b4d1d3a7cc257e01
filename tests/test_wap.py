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
from warehouse_build import build_warehouse

from zlflow.errors import AssertionFailed, SourceError, ZlflowError
from zlflow.jobs.warehouse import run_publish
from zlflow.markers import write_json_atomic
from zlflow.objects import deploy_order, sql_objects
from zlflow.warehouse import bigquery as bigquery_module
from zlflow.warehouse.bigquery import BigQueryWarehouse
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import SqlObject
from zlflow.warehouse.wap import LAYERS, VERSIONS, candidate_datasets, split_objects

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


def published_views(path: Path, datasets: dict[str, str]) -> set[str]:
    """``schema.name`` of every published view in the layers."""
    with DuckDBWarehouse(path, datasets) as wh:
        views = wh.query_native(
            "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
            "WHERE table_type = 'VIEW' AND table_schema IN (SELECT UNNEST($s))",
            {"s": [datasets[k] for k in LAYERS]},
        )
    return set(views.column("name").to_pylist())


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


# A published view over a loaded table, for the BigQuery publish tests.
VIEW = SqlObject(
    path=Path("features/v.sql"),
    dataset="features",
    name="v",
    text="SELECT x * 10 AS y FROM ${market_data}.raw_a",
    materialize="view",
)


def emulator(url: str, prefix: str) -> tuple[bigquery.Client, dict[str, str]]:
    """A client of the local emulator for project zlflow-<prefix>, and its datasets."""
    names = ("market_data", "staging", "features", "training", "forecasts", "api")
    client = bigquery.Client(
        project=f"zlflow-{prefix}",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=url),
    )
    return client, {k: f"{prefix}_{k}" for k in names}


def test_bigquery_publishes_the_candidate_on_the_emulator(
    bigquery_emulator: str, tmp_path: Path
) -> None:
    """A new table is copied, an existing one moves in the transaction, the view is
    recreated over the published datasets; the candidate stays as it was."""
    client, datasets = emulator(bigquery_emulator, "wap")
    candidate = candidate_datasets(datasets)
    with client, BigQueryWarehouse(client.project, "US", candidate, client) as wh:
        for values in ([1, 2], [3, 4, 5]):  # first publish creates, the second replaces
            pd.DataFrame({"x": values}).to_parquet(tmp_path / "a.parquet")
            wh.load_parquet("market_data", "raw_a", tmp_path / "a.parquet")
            wh.publish([("market_data", "raw_a")], [VIEW])
            published = wh.query_arrow("SELECT y FROM ${published_features}.v ORDER BY y")
            assert published.column("y").to_pylist() == [10 * v for v in values]
            # Counted by a query: the emulator's row-count metadata ignores DELETE.
            rows = wh.query_arrow("SELECT COUNT(*) AS n FROM ${published_market_data}.raw_a")
            assert rows.column("n").to_pylist() == [len(values)]
        assert wh.table_info("market_data", "raw_a").rows == 3  # the candidate is kept
        jobs = [job.query for job in client.list_jobs() if getattr(job, "query", None)]
        assert any(q.startswith("BEGIN TRANSACTION;") for q in jobs)


def publish_job(
    path: Path, config: dict[str, Any], folder: Path, markers: list[Path]
) -> tuple[list[str], float]:
    """Run the workflow's publish job on a DuckDB file: the tables it copied, and seconds."""
    objects = sql_objects(ROOT / "sql", config["horizons"])
    with DuckDBWarehouse(path, candidate_datasets(config["datasets"])) as wh:
        keys = list(batch(wh, config))
    specs = {
        k: None
        if k not in objects
        else {
            "sql": str(objects[k].path),
            "name": objects[k].name,
            "template_vars": dict(objects[k].template_vars),
        }
        for k in keys
    }
    warehouse = {
        "backend": "duckdb",
        "duckdb": {"path": str(path)},
        "datasets": candidate_datasets(config["datasets"]),
    }
    output = folder / "published.json"
    started = time.perf_counter()
    run_publish(warehouse, specs, str(output), [str(m) for m in markers])
    seconds = time.perf_counter() - started
    return json.loads(output.read_text())["copied"], seconds


def test_a_publish_copies_only_the_tables_rebuilt_since_the_last_one(
    copy: Path, config: dict[str, Any], tmp_path: Path
) -> None:
    """The publish job compares each candidate marker with the version it last published:
    a rebuilt table (its marker rewritten) is copied, the others are left as they are."""
    with DuckDBWarehouse(copy, candidate_datasets(config["datasets"])) as wh:
        keys = list(batch(wh, config))
    markers = []
    for key in keys:
        dataset, name = key.split(".")
        markers.append(tmp_path / "warehouse" / dataset / f"{name}.json")
        write_json_atomic(markers[-1], {"object": key})
    objects = sql_objects(ROOT / "sql", config["horizons"])
    tables = [k for k in keys if k not in objects or objects[k].materialize == "table"]
    copied, first = publish_job(copy, config, tmp_path, markers)
    assert sorted(copied) == sorted(tables)  # nothing recorded yet: every table
    before = published_fingerprints(copy, config["datasets"])
    copied, unchanged = publish_job(copy, config, tmp_path, markers)
    assert copied == []
    assert published_fingerprints(copy, config["datasets"]) == before
    with DuckDBWarehouse(copy, candidate_datasets(config["datasets"])) as wh:
        wh.execute(f"DELETE FROM {wh.table('staging', 'futures_daily')} WHERE rowid % 5 = 0")
        candidate = wh.query_arrow("SELECT COUNT(*) AS n FROM ${staging}.futures_daily")
    rebuilt = tmp_path / "warehouse" / "staging" / "futures_daily.json"
    write_json_atomic(rebuilt, {"object": "staging.futures_daily", "rebuilt": True})
    copied, one = publish_job(copy, config, tmp_path, markers)
    assert copied == ["staging.futures_daily"]
    after = published_fingerprints(copy, config["datasets"])
    changed = {k for k in after if after[k] != before[k]}
    record = f"{config['datasets']['market_data']}.{VERSIONS}"
    staged = f"{config['datasets']['staging']}.futures_daily"
    # Views over the staged bars read the new rows; every other table is as it was.
    assert changed - published_views(copy, config["datasets"]) == {staged, record}
    with DuckDBWarehouse(copy, config["datasets"]) as wh:
        published = wh.query_arrow("SELECT COUNT(*) AS n FROM ${staging}.futures_daily")
    assert published == candidate
    print(f"publish: every table {first:.2f} s, none {unchanged:.2f} s, one table {one:.2f} s")


def bigquery_state(client: bigquery.Client, datasets: dict[str, str]) -> dict[str, Any]:
    """Every published object of the layers: kind, columns, view text and sorted rows."""
    state: dict[str, Any] = {}
    for key in LAYERS:
        for item in client.list_tables(f"{client.project}.{datasets[key]}"):
            table = client.get_table(item.reference)
            rows = client.query(
                f"SELECT * FROM `{client.project}.{datasets[key]}.{item.table_id}`"
            ).result()
            state[f"{key}.{item.table_id}"] = (
                table.table_type,
                [(f.name, f.field_type) for f in table.schema],
                table.view_query,
                sorted(repr(tuple(r.values())) for r in rows),
            )
    return state


def test_bigquery_a_failed_publish_leaves_every_published_object_as_it_was(
    bigquery_emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish that adds a table, adds a column and replaces rows, failed on the real
    emulator at its last step (an ASSERT before COMMIT): the preparation is taken back
    and the transaction rolled back, so every published object is as before; published
    again without the failure, every change lands."""
    client, datasets = emulator(bigquery_emulator, "wapf")

    def load(wh: BigQueryWarehouse, name: str, frame: pd.DataFrame) -> None:
        frame.to_parquet(tmp_path / f"{name}.parquet")
        wh.load_parquet("market_data", name, tmp_path / f"{name}.parquet")

    candidate = candidate_datasets(datasets)
    with client, BigQueryWarehouse(client.project, "US", candidate, client) as wh:
        load(wh, "raw_a", pd.DataFrame({"x": [1, 2]}))
        load(wh, "raw_s", pd.DataFrame({"s": ["a"]}))
        wh.publish([("market_data", "raw_a"), ("market_data", "raw_s")], [VIEW], {"v": "1"})
        old = bigquery_state(client, datasets)
        # The new candidate: a column more in raw_a, new rows in raw_s, a new table raw_b.
        load(wh, "raw_a", pd.DataFrame({"x": [3, 4, 5], "z": ["p", "q", "r"]}))
        load(wh, "raw_s", pd.DataFrame({"s": ["b", "c"]}))
        load(wh, "raw_b", pd.DataFrame({"b": [7.5]}))
        tables = [("market_data", t) for t in ("raw_a", "raw_b", "raw_s")]
        real = bigquery_module.publish_transaction_sql

        def failing(*args: Any) -> str:
            return real(*args).replace(
                "COMMIT TRANSACTION;", "ASSERT FALSE AS 'injected failure';\nCOMMIT TRANSACTION;"
            )

        monkeypatch.setattr(bigquery_module, "publish_transaction_sql", failing)
        with pytest.raises(ZlflowError, match=r"injected failure.*nothing was published"):
            wh.publish(tables, [VIEW], {"v": "2"})
        assert bigquery_state(client, datasets) == old
        assert wh.published_versions() == {"v": "1"}
        monkeypatch.undo()
        # A retyped column is refused before anything changes.
        load(wh, "raw_s", pd.DataFrame({"s": [1.5]}))
        with pytest.raises(ZlflowError, match=r"column types \(s STRING -> FLOAT64\)"):
            wh.publish(tables, [VIEW], {"v": "2"})
        assert bigquery_state(client, datasets) == old
        load(wh, "raw_s", pd.DataFrame({"s": ["b", "c"]}))
        wh.publish(tables, [VIEW], {"v": "2"})
        new = bigquery_state(client, datasets)
        assert new["market_data.raw_a"][1] == [("x", "INTEGER"), ("z", "STRING")]
        assert new["market_data.raw_a"][3] == ["(3, 'p')", "(4, 'q')", "(5, 'r')"]
        assert new["market_data.raw_b"][3] == ["(7.5,)"]
        assert new["market_data.raw_s"][3] == ["('b',)", "('c',)"]
        assert new["features.v"][3] == ["(30,)", "(40,)", "(50,)"]
        assert wh.published_versions() == {"v": "2"}
        # raw_a without z again: the column goes after the commit.
        load(wh, "raw_a", pd.DataFrame({"x": [6]}))
        wh.publish([("market_data", "raw_a")], [VIEW], {"v": "3"})
        assert bigquery_state(client, datasets)["market_data.raw_a"][1:] == (
            [("x", "INTEGER")],
            None,
            ["(6,)"],
        )


def candidate_command(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zlflow.warehouse", "candidate", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_failed_candidate_is_inspected_and_discarded_by_the_documented_command(
    built_warehouse: Path, config: dict[str, Any], tmp_path: Path
) -> None:
    """``python -m zlflow.warehouse candidate`` lists the candidate beside the published
    objects and the failed assertion; ``--discard`` drops the candidate datasets and their
    markers and leaves the published warehouse and its marker as they were."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    results = tmp_path / "results" / "default"
    results.mkdir(parents=True)
    path = results / "warehouse.duckdb"
    shutil.copy(built_warehouse, path)
    in_cents = user_zl(
        tmp_path / "zl.csv",
        config["sample_dir"],
        lambda b: b.assign(**{c: b[c] * 100 for c in ("open", "high", "low", "close")}),
    )
    with pytest.raises(AssertionFailed) as failed:
        build(path, config, in_cents, tmp_path / "snapshots")
    assert "python -m zlflow.warehouse candidate --discard" in str(failed.value)
    before = published_fingerprints(path, config["datasets"])
    markers = [results / "warehouse" / "staging" / "futures_daily.json"]
    markers.append(results / "assertions" / "staging_price_bounds.json")
    kept = [results / "warehouse" / "api" / "vw_zl_alerts.json", results / "published.json"]
    for marker in markers + kept:
        write_json_atomic(marker, {"marker": marker.name})

    shown = candidate_command(tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "staging_candidate: " in shown.stdout
    assert any(line.strip().startswith("futures_daily: table,") for line in lines)
    assert "failed assertions: 1" in lines
    assert any(line.strip().startswith("staging_price_bounds: ") for line in lines)

    discarded = candidate_command(tmp_path, "--discard")
    assert discarded.returncode == 0, discarded.stderr
    assert "dropped market_data_candidate, staging_candidate" in discarded.stdout
    assert not any(m.exists() for m in markers)
    assert all(m.exists() for m in kept)
    assert published_fingerprints(path, config["datasets"]) == before
    with DuckDBWarehouse(path, candidate_datasets(config["datasets"])) as wh:
        assert all(wh.list_objects(key) == [] for key in LAYERS)

    missing = candidate_command(tmp_path, "--configfile", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and missing.stderr.startswith("cannot read")
    assert len(missing.stderr.splitlines()) == 1


def test_a_macro_file_in_basis_points_is_stopped_naming_its_file_and_row(
    copy: Path, config: dict[str, Any], tmp_path: Path
) -> None:
    """The user's DGS10 in basis points passes the gate (any finite value is a rate) and
    is stopped by the macro bounds assertion, which names the file and the row of each
    offending observation; every published object is as before."""
    before = published_fingerprints(copy, config["datasets"])
    with DuckDBWarehouse(copy, config["datasets"]) as wh:
        dgs10 = wh.query_arrow(
            "SELECT obs_date, value FROM ${market_data}.raw_fred WHERE series_id = 'DGS10' "
            "ORDER BY obs_date"
        ).to_pandas()
    frame = pd.DataFrame(
        {"date": dgs10["obs_date"].dt.strftime("%Y-%m-%d"), "value": dgs10["value"] * 100}
    )
    frame.to_csv(tmp_path / "dgs10.csv", index=False)
    files = {"raw_fred": [{"path": str(tmp_path / "dgs10.csv"), "series": "DGS10"}]}
    with pytest.raises(AssertionFailed) as info:
        build(copy, config, files, tmp_path / "snapshots")
    message = str(info.value)
    assert message.startswith("assertion staging_macro_value_bounds failed")
    header, *rows = message.splitlines()[2:]
    assert header.split()[-2:] == ["source_file", "source_row"]
    for row in rows:
        series, day, value, *_, file, line = row.split()
        assert (series, file) == ("DGS10", "dgs10.csv")
        assert frame.iloc[int(line)]["date"] == day
        assert frame.iloc[int(line)]["value"] == pytest.approx(float(value))
    assert published_fingerprints(copy, config["datasets"]) == before


def test_bigquery_a_publish_killed_after_its_commit_is_finished_by_the_next(
    bigquery_emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The publish job on the emulator: the rows move in the transaction, then the step
    that drops a column the candidate lost dies. The next publish, with nothing rebuilt,
    sees the published table's extra column and finishes; the one after copies nothing."""
    client, datasets = emulator(bigquery_emulator, "wapk")
    settings = {
        "backend": "bigquery",
        "bigquery": {
            "project": client.project,
            "location": "US",
            "api_endpoint": bigquery_emulator,
        },
        "datasets": candidate_datasets(datasets),
    }
    marker = tmp_path / "warehouse" / "market_data" / "raw_a.json"
    output = tmp_path / "published.json"

    def publish() -> list[str]:
        run_publish(settings, {"market_data.raw_a": None}, str(output), [str(marker)])
        return json.loads(output.read_text())["copied"]

    def load(frame: pd.DataFrame) -> None:
        frame.to_parquet(tmp_path / "a.parquet")
        with BigQueryWarehouse(client.project, "US", settings["datasets"], client) as wh:
            wh.load_parquet("market_data", "raw_a", tmp_path / "a.parquet")
        write_json_atomic(marker, {"rows": len(frame), "columns": list(frame.columns)})

    with client:
        load(pd.DataFrame({"x": [1], "z": ["p"]}))
        assert publish() == ["market_data.raw_a"]
        load(pd.DataFrame({"x": [2, 3]}))

        def killed(*args: Any) -> str:
            raise RuntimeError("killed after the commit")

        monkeypatch.setattr(bigquery_module, "drop_columns_sql", killed)
        with pytest.raises(RuntimeError, match="killed"):
            publish()
        monkeypatch.undo()
        state = bigquery_state(client, datasets)["market_data.raw_a"]
        assert state[1] == [("x", "INTEGER"), ("z", "STRING")] and state[3] == [
            "(2, None)",
            "(3, None)",
        ]
        assert publish() == ["market_data.raw_a"]  # same version, other columns: finished
        state = bigquery_state(client, datasets)["market_data.raw_a"]
        assert state[1] == [("x", "INTEGER")] and state[3] == ["(2,)", "(3,)"]
        assert publish() == []
