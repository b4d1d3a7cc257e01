"""The cost guard's logic with a stand-in BigQuery client that reports chosen byte counts.

The emulator answers dry runs but always reports 0 bytes, so caps can only be seen to
trip here; tests/test_bigquery_workflow.py runs the guard on the emulator for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pandas as pd
import pytest
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from zlflow.cost import CostCapExceeded, DryRun, dry_run_objects, summarize
from zlflow.errors import ConfigError, SqlError
from zlflow.jobs import cost as cost_job
from zlflow.objects import assertion_objects, loaded_tables, sql_objects
from zlflow.warehouse.bigquery import BigQueryWarehouse, MissingObjectError
from zlflow.warehouse.sql import SqlObject

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30
PROJECT = "zlflow-cost"
DATASETS = {k: k for k in ("market_data", "staging", "features", "training", "forecasts", "api")}


class FakeClient:
    """Answers dry runs like BigQuery: bytes by exact SQL, NotFound for unpublished tables."""

    def __init__(self, sizes: dict[str, int], default: int = GIB) -> None:
        self.sizes, self.default = sizes, default
        self.configs: list[bigquery.QueryJobConfig] = []

    def get_dataset(self, dataset_id: str) -> bigquery.Dataset:
        found = bigquery.Dataset(dataset_id)
        found.location = "US"
        return found

    def query(self, sql: str, job_config: bigquery.QueryJobConfig, **_: Any) -> SimpleNamespace:
        self.configs.append(job_config)
        if "`.forecasts." in sql or "`.api." in sql:
            raise NotFound(f"Not found: Table {PROJECT}:forecasts.x was not found in location US")
        size = self.sizes.get(sql, self.default)
        return SimpleNamespace(total_bytes_processed=str(size), job_id=None)

    def close(self) -> None:
        pass


def warehouse(client: FakeClient) -> BigQueryWarehouse:
    return BigQueryWarehouse(
        PROJECT, "US", DATASETS, client=cast(bigquery.Client, client), labels={"rule": "x"}
    )


def test_dry_run_bytes_asks_for_a_dry_run_without_the_cache() -> None:
    client = FakeClient({}, default=1234)
    obj = sql_objects(ROOT / "sql", {"1m": 21})["training.vw_zl_1m_v1"]
    assert warehouse(client).dry_run_bytes(obj) == 1234
    config = client.configs[-1]
    assert config.dry_run is True and config.use_query_cache is False
    assert config.labels == {"rule": "x"}


def objects() -> list[tuple[str, SqlObject]]:
    todo = [("object", o) for o in sql_objects(ROOT / "sql", {"1m": 21}).values()]
    return todo + [("assertion", a) for a in assertion_objects(ROOT / "sql").values()]


def test_objects_reading_unpublished_tables_are_reported_not_deployed() -> None:
    api = {k for _, o in objects() if (k := o.key).startswith("api.")}
    runs = dry_run_objects(warehouse(FakeClient({})), objects(), api, 10 * GIB)
    status = {r.object: r.status for r in runs}
    assert {k for k, s in status.items() if s == "not_deployed"} == api
    assert {s for k, s in status.items() if k not in api} == {"ok"}
    assert "assertions.layer_row_counts" in status
    note = next(r.note for r in runs if r.status == "not_deployed")
    assert note.startswith("Not found: Table") and "sql/api" not in note
    # The same error for an object whose tables the warehouse target built is a failure.
    with pytest.raises(MissingObjectError, match="dry run failed on BigQuery: Not found"):
        dry_run_objects(warehouse(FakeClient({})), objects(), set(), 10 * GIB)


def test_caps_name_every_object_above_them_in_one_line() -> None:
    runs = [
        DryRun("staging.a", "object", "table", "over_cap", 12 * GIB, "a.sql"),
        DryRun("staging.b", "object", "table", "over_cap", 30 * GIB, "b.sql"),
        DryRun("staging.c", "object", "view", "ok", GIB, "c.sql"),
        DryRun("api.d", "object", "view", "not_deployed", None, "d.sql"),
    ]
    summary = summarize(runs, 10 * GIB, 40 * GIB)
    assert summary["over_cap"] == ["staging.b", "staging.a"]
    assert summary["not_deployed"] == ["api.d"]
    assert summary["total_bytes"] == 43 * GIB and not summary["passed"]
    assert summary["problems"] == [
        "staging.b (30.00 GiB), staging.a (12.00 GiB) above bigquery.max_bytes_per_object "
        "= 10.00 GiB",
        "3 objects together 43.00 GiB, above bigquery.max_bytes_total = 40.00 GiB",
    ]
    assert summarize(runs[2:], 10 * GIB, None)["passed"]


def run_guard(tmp_path: Path, client: FakeClient, caps: dict[str, Any], backend: str) -> None:
    # What the warehouse target builds: the loaded tables and every object but the API.
    built = [k for k in loaded_tables() if k.startswith("market_data.")]
    built += [k for _, o in objects() if not (k := o.key).startswith("api.")]
    cost_job.run_cost_guard(
        warehouse={"backend": backend, "datasets": DATASETS, "bigquery": {"project": PROJECT}},
        sql_dir=str(ROOT / "sql"),
        horizons={"1m": 21},
        built=built,
        caps=caps,
        csv=str(tmp_path / "cost" / "dry_run.csv"),
        summary=str(tmp_path / "cost" / "dry_run.json"),
        log_file="dry_run.log",
    )


def test_the_job_writes_the_table_or_fails_naming_the_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objs = sql_objects(ROOT / "sql", {"1m": 21})
    big = warehouse(FakeClient({})).render(objs["features.zl_daily_v1"])
    client = FakeClient({big: 20 * GIB})
    monkeypatch.setattr(cost_job, "connect", lambda _: warehouse(client))
    caps: dict[str, Any] = {"max_bytes_per_object": 10 * GIB, "max_bytes_total": None}
    with pytest.raises(CostCapExceeded) as caught:
        run_guard(tmp_path, client, caps, "bigquery")
    assert str(caught.value) == (
        "cost guard: features.zl_daily_v1 (20.00 GiB) above bigquery.max_bytes_per_object "
        "= 10.00 GiB (table: dry_run.log)"
    )
    assert not (tmp_path / "cost").exists()
    run_guard(tmp_path, client, caps | {"max_bytes_per_object": 20 * GIB}, "bigquery")
    table = pd.read_csv(tmp_path / "cost" / "dry_run.csv")
    assert table["object"].iloc[0] == "features.zl_daily_v1"
    assert table["gib"].iloc[0] == 20.0
    summary = json.loads((tmp_path / "cost" / "dry_run.json").read_text())
    # The API views read the forecasts tables, which no upload has made yet: not dry-run.
    views = sum(1 for key in objs if key.startswith("api."))
    assert summary["passed"] and summary["dry_run"] == len(table) - views
    assert summary["total_bytes"] == 20 * GIB + (len(table) - views - 1) * GIB


def test_the_job_refuses_duckdb(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cost guard: dry runs estimate BigQuery bytes"):
        run_guard(tmp_path, FakeClient({}), {"max_bytes_per_object": 1}, "duckdb")


def test_a_syntax_error_is_not_a_missing_table() -> None:
    class Broken(FakeClient):
        def query(self, sql: str, job_config: bigquery.QueryJobConfig, **_: Any) -> Any:
            from google.api_core.exceptions import BadRequest

            raise BadRequest("Syntax error: Unexpected end of script at [1:10]")

    with pytest.raises(SqlError, match="at line 1: Syntax error") as caught:
        warehouse(Broken({})).dry_run_bytes("SELECT 1 +")
    assert not isinstance(caught.value, MissingObjectError)
