"""Every statement the BigQuery backend sends, parsed and analysed by ZetaSQL.

The emulator runs BigQuery SQL on DuckDB and accepts SQL that BigQuery rejects. ZetaSQL
is the front end BigQuery implements: each SQL object, assertion and API view, rendered
as the backend renders it, is analysed against a catalog of the warehouse's own schema
(loaded tables with the types a Parquet load gives them, then each object's analysed
output in deploy order), together with the DDL and MERGE statements the backend writes.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_publish import publish_all
from zetasql.core.local_service import ZetaSqlLocalService
from zetasql.types import (
    ResolvedCreateTableAsSelectStmt,
    ResolvedMergeStmt,
    ResolvedStatement,
    Type,
)
from zetasql_bigquery import (
    LIMITATIONS,
    AnalysisError,
    BigQueryFrontEnd,
    bigquery_type,
    query_columns,
    start_service,
    type_name,
)

from zlflow.errors import ZlflowError
from zlflow.objects import (
    ASSERTION_RESULTS,
    assertion_objects,
    deploy_order,
    loaded_tables,
    sql_objects,
)
from zlflow.publish import TABLE_KEYS, TABLE_LAYOUT
from zlflow.sources.tables import TABLE_KEYS as RAW_TABLE_KEYS
from zlflow.warehouse.bigquery import (
    create_from_staging_sql,
    deploy_sql,
    duplicate_keys_sql,
    merge_counts_sql,
    merge_sql,
    render_sql,
    table_ref,
)
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import read_sql_text

ROOT = Path(__file__).resolve().parents[1]
# A hyphen, as real project ids have: every path the backend writes must quote it.
PROJECT = "zlflow-test"

# Statements ZetaSQL rejects although BigQuery accepts them: statement -> why. An entry
# that starts to pass fails the suite too, so the list cannot outlive its reason.
ALLOWED: dict[str, str] = {}
# What merge_parquet sends, in order (the table's creation only when it does not exist).
MERGE_STEPS = ("duplicate keys", "create", "counts", "merge")
# DuckDB's names for the BigQuery types the SQL uses (a naive TIMESTAMP is a DATETIME).
DUCKDB_TYPES = {
    "BIGINT": "INT64",
    "INTEGER": "INT64",
    "DOUBLE": "FLOAT64",
    "VARCHAR": "STRING",
    "BOOLEAN": "BOOL",
    "TIMESTAMP": "DATETIME",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "DECIMAL(38,9)": "NUMERIC",
}


@dataclass
class Analysis:
    """What the analyzer said of each statement: None for accepted, else its message."""

    front_end: BigQueryFrontEnd
    results: dict[str, str | None] = field(default_factory=dict)
    columns: dict[str, list[tuple[str, Type]]] = field(default_factory=dict)

    def check(self, statement: str, sql: str) -> ResolvedStatement | None:
        try:
            resolved = self.front_end.analyze(sql)
        except AnalysisError as err:
            self.results[statement] = str(err)
            return None
        self.results[statement] = None
        return resolved

    def failures(self) -> dict[str, str]:
        return {k: v for k, v in self.results.items() if v is not None}


@pytest.fixture(scope="session")
def zetasql_service() -> ZetaSqlLocalService:
    """The analyzer, started once per session: compiling the WebAssembly takes ~30 s."""
    return start_service()


@pytest.fixture(scope="module")
def published_warehouse(
    built_warehouse: Path, config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DuckDBWarehouse]:
    """A copy of the session's warehouse with forecasts published: the API views read them."""
    folder = tmp_path_factory.mktemp("zetasql")
    path = folder / "zlflow.duckdb"
    shutil.copy(built_warehouse, path)
    with DuckDBWarehouse(path, config["datasets"]) as warehouse:
        publish_all(warehouse, folder)
        yield warehouse


def loaded_schema(warehouse: DuckDBWarehouse) -> dict[str, list[tuple[str, Type]]]:
    """``dataset.name`` -> BigQuery columns of each table that jobs load from Parquet.

    Read back as Arrow, the form in which the backend's jobs write and BigQuery loads them.
    """
    schema = {}
    for key in sorted(loaded_tables()):
        dataset, name = key.split(".")
        try:
            warehouse.table_info(dataset, name)
        except ZlflowError:
            continue  # written only by jobs this warehouse did not run (training folds)
        arrow = warehouse.query_arrow(f"SELECT * FROM ${{{dataset}}}.{name} LIMIT 0").schema
        schema[key] = [(f.name, bigquery_type(f.type)) for f in arrow]
    return schema


@pytest.fixture(scope="module")
def analysis(
    zetasql_service: ZetaSqlLocalService,
    published_warehouse: DuckDBWarehouse,
    config: dict[str, Any],
) -> Analysis:
    """Analyse everything the backend would send, in the order a real run sends it."""
    datasets = config["datasets"]
    front_end = BigQueryFrontEnd(zetasql_service, PROJECT, datasets)
    result = Analysis(front_end)
    for key, columns in loaded_schema(published_warehouse).items():
        front_end.add_table(*key.split("."), columns)
        result.columns[key] = columns
    objects = sql_objects(ROOT / "sql", config["horizons"])
    for key in deploy_order(objects):
        obj = objects[key]
        # The query alone is what the cost guard dry-runs (and deploy dry-runs before
        # replacing a table by a view); its output columns are the object's schema.
        resolved = result.check(f"{key}: query", render_sql(obj, PROJECT, datasets))
        result.check(f"{key}: deploy", deploy_sql(obj, PROJECT, datasets))
        if resolved is not None:
            result.columns[key] = query_columns(resolved)
            front_end.add_table(obj.dataset, obj.name, result.columns[key])
    for name, assertion in assertion_objects(ROOT / "sql").items():
        result.check(f"assertions.{name}: query", render_sql(assertion, PROJECT, datasets))
    for key, (keys, partition_by, cluster_by) in merges().items():
        check_merge(result, key, keys, partition_by, cluster_by)
    return result


def merges() -> dict[str, tuple[tuple[str, ...], str | None, tuple[str, ...]]]:
    """``dataset.table`` -> (keys, partition_by, cluster_by) of every merge_parquet caller."""
    calls = {f"forecasts.{t}": (keys, *TABLE_LAYOUT[t]) for t, keys in TABLE_KEYS.items()}
    calls |= {f"market_data.{t}": (tuple(k), "", ()) for t, k in RAW_TABLE_KEYS.items()}
    calls[ASSERTION_RESULTS] = (("assertion",), "", ())
    return {
        k: (keys, partition or None, tuple(cluster))
        for k, (keys, partition, cluster) in calls.items()
    }


def check_merge(
    result: Analysis,
    key: str,
    keys: tuple[str, ...],
    partition_by: str | None,
    cluster_by: tuple[str, ...],
) -> None:
    """The statements merge_parquet sends, with a staging table loaded like the target."""
    if key not in result.columns:
        for step in MERGE_STEPS:
            result.results[f"merge {key}: {step}"] = (
                "no schema: the warehouse build wrote no such table"
            )
        return
    dataset_key, name = key.split(".")
    dataset = result.front_end.datasets[dataset_key]
    columns = result.columns[key]
    staging_name = f"_zlflow_merge_{name}_0123456789ab"
    result.front_end.add_table(dataset_key, staging_name, columns)
    target = table_ref(PROJECT, dataset, name)
    staging = table_ref(PROJECT, dataset, staging_name)
    names = [c for c, _ in columns]
    statements = (
        duplicate_keys_sql(staging, keys),
        create_from_staging_sql(target, staging, partition_by, cluster_by),
        merge_counts_sql(target, staging, keys, names),
        merge_sql(target, staging, keys, names),
    )
    for step, sql in zip(MERGE_STEPS, statements, strict=True):
        result.check(f"merge {key}: {step}", sql)


def test_every_statement_the_backend_sends_is_valid_bigquery(
    analysis: Analysis, config: dict[str, Any]
) -> None:
    objects = sql_objects(ROOT / "sql", config["horizons"])
    assertions = assertion_objects(ROOT / "sql")
    expected = {f"{k}: {s}" for k in objects for s in ("query", "deploy")}
    expected |= {f"assertions.{n}: query" for n in assertions}
    expected |= {f"merge {k}: {step}" for k in merges() for step in MERGE_STEPS}
    assert set(analysis.results) == expected
    assert any(k.startswith("api.") for k in objects), "no API view was analysed"
    unexplained = {k: v for k, v in analysis.failures().items() if k not in ALLOWED}
    assert not unexplained, "ZetaSQL rejects:\n" + "\n".join(
        f"{k}: {v}" for k, v in sorted(unexplained.items())
    )
    stale = sorted(k for k in ALLOWED if analysis.results.get(k, "missing") is None)
    assert not stale, f"allow-listed but accepted now, remove them: {stale}"
    print(f"ZetaSQL analysed {len(analysis.results)} statements; limitations: {list(LIMITATIONS)}")


def test_the_backend_merges_and_layouts_resolve(analysis: Analysis) -> None:
    """MERGE and CREATE TABLE ... PARTITION BY ... CLUSTER BY resolve to what they claim."""
    front_end = analysis.front_end
    key = "forecasts.zl_forecasts_daily"
    dataset = front_end.datasets["forecasts"]
    target = table_ref(PROJECT, dataset, "zl_forecasts_daily")
    staging = table_ref(PROJECT, dataset, "_zlflow_merge_zl_forecasts_daily_0123456789ab")
    names = [c for c, _ in analysis.columns[key]]
    keys = TABLE_KEYS["zl_forecasts_daily"]
    merge = front_end.analyze(merge_sql(target, staging, keys, names))
    assert isinstance(merge, ResolvedMergeStmt)
    # An update of every non-key column on a changed row, an insert of every column.
    assert [
        len(w.update_item_list) + len(w.insert_column_list) for w in merge.when_clause_list
    ] == [
        len(names) - len(keys),
        len(names),
    ]
    partition, cluster = TABLE_LAYOUT["zl_forecasts_daily"]
    create = front_end.analyze(create_from_staging_sql(target, staging, partition, cluster))
    assert isinstance(create, ResolvedCreateTableAsSelectStmt)
    assert len(create.partition_by_list) == 1
    assert len(create.cluster_by_list) == len(cluster)


def test_deployed_columns_match_duckdb(
    analysis: Analysis, published_warehouse: DuckDBWarehouse, config: dict[str, Any]
) -> None:
    """The catalog ZetaSQL built for each object is the object DuckDB deployed: same
    columns, in order, with the same types (so the analysis judged the real schema)."""
    objects = sql_objects(ROOT / "sql", config["horizons"])
    differences = []
    for key, obj in objects.items():
        if obj.dataset == "api":
            continue  # not deployed by the shared warehouse build
        duck = published_warehouse.table_info(obj.dataset, obj.name).columns
        ours = [(c, type_name(t)) for c, t in analysis.columns[key]]
        theirs = [(c, DUCKDB_TYPES.get(t, t)) for c, t in duck]
        if ours != theirs:
            differences.append(f"{key}: ZetaSQL {ours}\n  DuckDB {theirs}")
    assert not differences, "\n".join(differences)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        pytest.param(
            "SELECT symbol FROM ${staging}.futures_daily WINDOW w AS (ORDER BY trade_date) "
            "QUALIFY ROW_NUMBER() OVER w = 1",
            "Expected end of input but got keyword QUALIFY",
            id="window-before-qualify",
        ),
        pytest.param(
            "SELECT symbol FROM ${staging}.futures_daily "
            "QUALIFY ROW_NUMBER() OVER (ORDER BY trade_date) = 1",
            "QUALIFY clause must be used in conjunction with WHERE or GROUP BY or HAVING",
            id="qualify-alone",
        ),
        pytest.param(
            "SELECT settle FROM ${staging}.futures_daily", "Unrecognized name: settle", id="column"
        ),
        pytest.param("SELECT * FROM ${staging}.futures_weekly", "Table not found", id="table"),
        pytest.param(
            "SELECT list_value(close) FROM ${staging}.futures_daily",
            "Function not found: list_value",
            id="duckdb-function",
        ),
        pytest.param(
            "SELECT symbol + 1 FROM ${staging}.futures_daily",
            "No matching signature for operator +",
            id="type",
        ),
        pytest.param(
            "SELECT CAST(volume AS INT32) FROM ${staging}.futures_daily",
            "Type not found: INT32",
            id="internal-type",
        ),
    ],
)
def test_the_analyzer_rejects_what_bigquery_rejects(
    analysis: Analysis, config: dict[str, Any], sql: str, message: str
) -> None:
    """The set-up is strict where it matters; the first two ran on DuckDB and the emulator."""
    query = render_sql(read_sql_text(sql), PROJECT, config["datasets"])
    with pytest.raises(AnalysisError, match=re.escape(message)):
        analysis.front_end.analyze(query)
