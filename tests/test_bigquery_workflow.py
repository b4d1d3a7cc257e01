"""The real Snakemake workflow on the BigQuery backend, against the local emulator.

One workflow copy loads the raw and reference tables, deploys every object, runs every
assertion and exports, with the real google-cloud-bigquery client in every job; its
export, and every object it built, must equal the DuckDB build of the same data. With no
endpoint and no credentials, the inspection commands must still work and touch nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from test_bigquery import _copy, _differences
from test_publish import publish_all
from test_workflow import one_horizon, planned_jobs, snakemake
from warehouse_build import build_warehouse
from workflow_tools import NETWORK_GUARD, ROOT, SNAKEMAKE, copy_workflow

from zlflow.export import export_training
from zlflow.objects import assertion_objects, deploy_order, sql_objects
from zlflow.publish import TABLE_KEYS
from zlflow.warehouse.bigquery import BigQueryWarehouse
from zlflow.warehouse.duckdb import DuckDBWarehouse

PROJECT = "zlflow-workflow"  # apart from test_bigquery.py's project on the same emulator
RESULTS = Path("results", "bq")
OVERLAY = "overlay.yaml"
HORIZONS = {"1m": 21}  # the copy forecasts one horizon: the others only add views

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bq_workflow(tmp_path_factory: pytest.TempPathFactory, bigquery_emulator: str) -> Path:
    """A workflow copy whose warehouse part ran on the emulator (2 cores, profile default).

    The profile's ``warehouse=1`` matters here: the emulator fails concurrent catalog
    changes ("Failed to commit DuckLake transaction"), which BigQuery itself does not.
    """
    workdir = one_horizon(copy_workflow(tmp_path_factory.mktemp("bq_workflow")))
    overlay = {
        "experiment": "bq",
        "backend": "bigquery",
        "bigquery": {"project": PROJECT, "location": "US", "api_endpoint": bigquery_emulator},
    }
    (workdir / OVERLAY).write_text(yaml.safe_dump(overlay))
    snakemake(workdir, "export", "--cores", "2", "--configfile", OVERLAY)
    return workdir


def test_the_export_equals_the_duckdb_export(
    bq_workflow: Path, built_warehouse: Path, config: dict[str, Any], tmp_path: Path
) -> None:
    export = bq_workflow / RESULTS / "export"
    with DuckDBWarehouse(built_warehouse, config["datasets"]) as duck:
        rows = duck.query_arrow("SELECT * FROM ${training}.vw_zl_1m_v1")
    expected = export_training(rows, tmp_path / "duck.parquet", tmp_path / "duck.json", "duckdb")
    found = json.loads((export / "zl_1m_v1.json").read_text())
    for key in ("rows", "date_min", "date_max", "features", "splits"):
        assert found[key] == expected[key], key
    assert found["rows"] > 4000
    duck_rows = pq.read_table(tmp_path / "duck.parquet")
    bq_rows = pq.read_table(export / "zl_1m_v1.parquet")
    assert _differences("zl_1m_v1", duck_rows, bq_rows) == []


def test_every_marker_and_job_is_bigquery_labelled_by_rule(
    bq_workflow: Path, bigquery_emulator: str
) -> None:
    markers = list((bq_workflow / RESULTS / "warehouse").rglob("*.json"))
    deployed = {f"{m.parent.name}.{m.stem}" for m in markers if m.parent.name != "market_data"}
    assert deployed == {k for k in sql_objects(ROOT / "sql", HORIZONS) if k[:4] != "api."}
    assert {json.loads(m.read_text())["backend"] for m in markers} == {"bigquery"}
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bigquery_emulator),
    )
    with client:
        rules = {(job.labels or {}).get("rule") for job in client.list_jobs(all_users=True)}
    assert {"load_raw", "load_reference", "deploy_object", "run_assertion"} <= rules
    assert "export_training" in rules


def test_nothing_to_do_after_the_run(bq_workflow: Path) -> None:
    out = snakemake(bq_workflow, "-n", "export", "--configfile", OVERLAY).stdout
    assert "Nothing to be done" in out


def test_the_cost_guard_dry_runs_every_object(bq_workflow: Path) -> None:
    snakemake(bq_workflow, "cost_guard", "--configfile", OVERLAY)
    table = pd.read_csv(bq_workflow / RESULTS / "cost" / "dry_run.csv")
    objects = sql_objects(ROOT / "sql", HORIZONS)
    names = set(objects) | {f"assertions.{a}" for a in assertion_objects(ROOT / "sql")}
    assert set(table["object"]) == names
    status = dict(zip(table["object"], table["status"], strict=True))
    # The API views read forecasts that only the publishing rules create.
    assert {k for k, s in status.items() if s == "not_deployed"} == {
        k for k in objects if k.startswith("api.")
    }
    measured = table[table["status"] == "ok"]
    assert len(measured) == len(names) - sum(k.startswith("api.") for k in objects)
    assert (measured["bytes_processed"] == 0).all()  # the emulator reports no bytes
    summary = json.loads((bq_workflow / RESULTS / "cost" / "dry_run.json").read_text())
    assert summary["passed"] and summary["project"] == PROJECT
    assert "emulator" in summary["note"]
    assert (
        "Nothing to be done"
        in snakemake(bq_workflow, "-n", "export", "cost_guard", "--configfile", OVERLAY).stdout
    )
    # A new cap reruns the guard only: caps are not part of the warehouse jobs' params.
    # (In a file: Snakemake's --config reads nested values as strings.)
    (bq_workflow / "cap.yaml").write_text("bigquery: {max_bytes_per_object: 1}\n")
    assert planned_jobs(bq_workflow, "cost_guard", "--configfile", OVERLAY, "cap.yaml") == {
        ("dry_run_costs", str(RESULTS / "cost" / "dry_run.csv")),
        ("cost_guard", ""),
    }


def test_the_cost_guard_refuses_duckdb_before_building_anything(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "cost_guard", check=False)
    assert result.returncode != 0
    assert "cost guard: dry runs estimate BigQuery bytes" in result.stdout + result.stderr
    assert not (workdir / "results" / "default" / "warehouse").exists()
    assert not (workdir / "results" / "default" / "warehouse.duckdb").exists()


def test_inspection_on_bigquery_needs_no_credentials_and_touches_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "workflow").mkdir()
    workdir = copy_workflow(tmp_path / "workflow")
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    attempts = tmp_path / "network.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env |= {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(guard), env.get("PYTHONPATH")])),
        "ZLFLOW_NETWORK_LOG": str(attempts),
        "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"),  # no ADC file to find
    }
    probe = "import socket; socket.create_connection(('127.0.0.1', 9))"
    subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, check=False)
    assert "127.0.0.1" in attempts.read_text(), "the network guard is not active"
    attempts.unlink()
    production = ("--configfile", "config/bigquery.yaml")
    for args, expected in (
        (("-n",), "Job stats"),
        (("-n", "cost_guard"), "dry_run_costs"),
        (("--dag",), "digraph"),
        (("--rulegraph",), "digraph"),
        (("--summary",), "results/bigquery/export/zl_1m_v1.parquet"),
        # Nothing has run, so nothing is listed: what counts is no error and no network.
        (("--list-changes", "params"), ""),
        (("--list-changes", "code"), ""),
        (("--list-changes", "input"), ""),
    ):
        result = subprocess.run(
            [SNAKEMAKE, *args, *production],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
        assert expected in result.stdout, args
    assert not attempts.exists(), attempts.read_text()
    assert not (workdir / "results").exists()


def test_every_sql_object_gives_the_same_rows_on_duckdb_and_bigquery(
    bq_workflow: Path, bigquery_emulator: str, config: dict[str, Any], tmp_path: Path
) -> None:
    """Every object the workflow's jobs built on the emulator against the same sample and
    config (one horizon) built in-process on DuckDB, row by row; then the API views, over
    the same published forecasts (synthetic: ``publish_all`` uploads them to DuckDB and
    the tables are copied to BigQuery), deployed on both and compared the same way.

    Last in the file: it adds forecasts and API views to the workflow's datasets, which
    the cost guard test must find absent."""
    one = config | {"horizons": HORIZONS}
    objects = sql_objects(ROOT / "sql", HORIZONS)
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bigquery_emulator),
    )
    problems: list[str] = []
    compared: dict[str, int] = {}
    with (
        client,
        DuckDBWarehouse(tmp_path / "duck.duckdb", config["datasets"]) as duck,
        BigQueryWarehouse(PROJECT, "US", config["datasets"], client=client) as bq,
    ):
        failed = {
            k: r
            for k, r in build_warehouse(duck, one, tmp_path / "snapshots", ROOT / "sql").items()
            if not r.passed
        }
        assert not failed, f"assertions with offending rows on DuckDB: {failed}"
        publish_all(duck, tmp_path)
        for table in TABLE_KEYS:
            _copy(duck, bq, "forecasts", table, tmp_path)
        for key in deploy_order(objects):
            obj = objects[key]
            if obj.dataset == "api":
                duck.deploy(obj)
                bq.deploy(obj)
            query = f"SELECT * FROM ${{{obj.dataset}}}.{obj.name}"
            rows = bq.query_arrow(query)
            problems.extend(_differences(key, duck.query_arrow(query), rows))
            compared[key] = rows.num_rows
    print(f"rows per object: {compared}")
    assert sorted(compared) == sorted(objects)
    assert compared["training.vw_zl_1m_v1"] > 4000 and compared["api.vw_zl_latest_forecast"] > 0
    assert not problems, "\n".join(problems)
