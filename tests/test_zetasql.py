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

import pyarrow as pa
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

from zlflow.assertions import LINEAGE_SQL, MACRO_LINEAGE_SQL, WEATHER_LINEAGE_SQL
from zlflow.errors import ZlflowError
from zlflow.jobs.export import export_sql
from zlflow.jobs.publish import ALERTS_SQL
from zlflow.loading import series_extent_sql
from zlflow.objects import (
    ASSERTION_RESULTS,
    assertion_objects,
    deploy_order,
    loaded_tables,
    sql_objects,
)
from zlflow.publish import TABLE_KEYS, TABLE_LAYOUT
from zlflow.sources.ingest import (
    INGEST_LOG,
    INGEST_LOG_SCHEMA,
    ingest_log_sql,
    symbol_sources_sql,
)
from zlflow.sources.tables import SERIES_COLUMNS
from zlflow.sources.tables import TABLE_KEYS as RAW_TABLE_KEYS
from zlflow.warehouse.bigquery import (
    add_columns_sql,
    count_sql,
    create_from_staging_sql,
    create_like_sql,
    deploy_sql,
    drop_columns_sql,
    drop_sql,
    duplicate_keys_sql,
    merge_counts_sql,
    merge_sql,
    publish_transaction_sql,
    render_sql,
    table_ref,
    versions_table_sql,
)
from zlflow.warehouse.candidate import failed_assertions_sql
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import SqlObject, read_sql_text
from zlflow.warehouse.wap import (
    LAYERS,
    PUBLISHED,
    VERSIONS,
    candidate_datasets,
    published_datasets,
    split_objects,
    versions_sql,
)

ROOT = Path(__file__).resolve().parents[1]
# A hyphen, as real project ids have: every path the backend writes must quote it.
PROJECT = "zlflow-test"

# Statements ZetaSQL rejects although BigQuery accepts them: statement -> why. An entry
# that starts to pass fails the suite too, so the list cannot outlive its reason.
ALLOWED: dict[str, str] = {}
# What merge_parquet sends, in order (the table's creation and its count only when it
# does not exist).
MERGE_STEPS = ("duplicate keys", "create", "created rows", "counts", "merge", "rows")
# What the backend's publish sends for each table, besides its transaction.
PUBLISH_STEPS = ("create like", "add columns", "drop columns", "undo create")
# Tables that only jobs the warehouse build does not run write, with their Arrow types.
INGEST_LOG_TYPES = {"str": pa.string(), "int64": pa.int64(), "datetime64[us]": pa.timestamp("us")}
STRING = bigquery_type(pa.string())
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

    def check(
        self, statement: str, sql: str, front_end: BigQueryFrontEnd | None = None
    ) -> ResolvedStatement | None:
        try:
            resolved = (front_end or self.front_end).analyze(sql)
        except AnalysisError as err:
            self.results[statement] = str(err)
            return None
        self.results[statement] = None
        return resolved

    def check_script(self, statement: str, sql: str, front_end: BigQueryFrontEnd) -> None:
        try:
            front_end.analyze_script(sql)
        except AnalysisError as err:
            self.results[statement] = str(err)
            return
        self.results[statement] = None

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
    ingest_log = [(c, bigquery_type(INGEST_LOG_TYPES[t])) for c, t in INGEST_LOG_SCHEMA.items()]
    for key, columns in {
        f"market_data.{INGEST_LOG}": ingest_log,
        f"market_data.{VERSIONS}": [("object", STRING), ("version", STRING)],
    }.items():
        front_end.add_table(*key.split("."), columns)
        result.columns[key] = columns
    objects = sql_objects(ROOT / "sql", config["horizons"])
    for key in deploy_order(objects):
        obj = objects[key]
        # The query alone is what the cost guard dry-runs (and deploy dry-runs before
        # replacing a table by a view); its output columns are the object's schema.
        resolved = result.check(f"{key}: query", render_sql(obj, PROJECT, datasets))
        result.check(f"{key}: deploy", deploy_sql(obj, PROJECT, datasets))
        # Deploying over an object of the other kind drops it first.
        other = "VIEW" if obj.materialize == "table" else "TABLE"
        ref = table_ref(PROJECT, datasets[obj.dataset], obj.name)
        result.check(f"{key}: drop", drop_sql(other, ref))
        if resolved is not None:
            result.columns[key] = query_columns(resolved)
            front_end.add_table(obj.dataset, obj.name, result.columns[key])
    for name, assertion in assertion_objects(ROOT / "sql").items():
        result.check(f"assertions.{name}: query", render_sql(assertion, PROJECT, datasets))
    for key, (keys, partition_by, cluster_by) in merges().items():
        check_merge(result, key, keys, partition_by, cluster_by)
    for name, sql in inline_queries(config).items():
        result.check(f"inline {name}", render_sql(read_sql_text(sql), PROJECT, datasets))
    check_publish(result, published_tables(objects), datasets)
    return result


def inline_queries(config: dict[str, Any]) -> dict[str, str]:
    """Queries written in code rather than in sql/, by the function that builds them."""
    queries = {f"export {h}": export_sql(f"vw_zl_{h}_v1") for h in config["horizons"]}
    queries |= {f"shrink guard {t}": series_extent_sql("market_data", t) for t in SERIES_COLUMNS}
    return queries | {
        "alerts": ALERTS_SQL,
        "ingest sources per symbol": symbol_sources_sql("market_data"),
        "ingest log": ingest_log_sql("market_data"),
        "published versions": versions_sql("market_data"),
        "candidate failed assertions": failed_assertions_sql("market_data"),
        "assertion lineage, futures": LINEAGE_SQL.replace("{symbols}", "'ZL', 'ZS'"),
        "assertion lineage, macro": MACRO_LINEAGE_SQL.replace("{symbols}", "'DGS10', 'COT_ZL'"),
        "assertion lineage, weather": WEATHER_LINEAGE_SQL.replace("{symbols}", "'USW00014933'"),
    }


def published_tables(objects: dict[str, SqlObject]) -> list[tuple[str, str]]:
    """The tables a publish copies: every loaded table and SQL table of the layers."""
    loaded = {k: None for k in sorted(loaded_tables()) if k.split(".")[0] in LAYERS}
    layered = {k: obj for k, obj in objects.items() if obj.dataset in LAYERS}
    return split_objects(loaded | layered)[0]


def check_publish(
    result: Analysis, tables: list[tuple[str, str]], datasets: dict[str, str]
) -> None:
    """The statements of BigQueryWarehouse.publish: the DDL around its transaction and the
    transaction itself, over a catalog holding each table in its candidate and published
    dataset (views are recreated with the deploy statements analysed above)."""
    mapping = candidate_datasets(datasets)
    published = published_datasets(mapping)
    front_end = BigQueryFrontEnd(result.front_end.service, PROJECT, mapping)
    record = table_ref(PROJECT, published["market_data"], VERSIONS)
    front_end.add_table(
        PUBLISHED + "market_data", VERSIONS, result.columns[f"market_data.{VERSIONS}"]
    )
    moves = []
    for dataset, name in tables:
        columns = result.columns.get(f"{dataset}.{name}")
        if columns is None:
            continue  # written only by jobs the warehouse build did not run (training folds)
        front_end.add_table(dataset, name, columns)
        front_end.add_table(PUBLISHED + dataset, name, columns)
        target = table_ref(PROJECT, published[dataset], name)
        source = table_ref(PROJECT, mapping[dataset], name)
        moves.append((target, source, [c for c, _ in columns]))
        last, type_ = columns[-1]
        statements = (
            create_like_sql(target, source),
            add_columns_sql(target, [("added_column", type_name(type_))]),
            drop_columns_sql(target, [last]),
            drop_sql("TABLE", target, if_exists=True),
        )
        for step, sql in zip(PUBLISH_STEPS, statements, strict=True):
            result.check(f"publish {dataset}.{name}: {step}", sql, front_end)
    result.check("publish: version record", versions_table_sql(record), front_end)
    versions = {f"{d}.{n}": "1764806400000000000:0123456789abcdef" for d, n in tables}
    script = publish_transaction_sql(moves, record, versions)
    result.check_script("publish: transaction", script, front_end)
    result.check_script(
        "publish: transaction, no versions", publish_transaction_sql(moves, record, None), front_end
    )


def merges() -> dict[str, tuple[tuple[str, ...], str | None, tuple[str, ...]]]:
    """``dataset.table`` -> (keys, partition_by, cluster_by) of every merge_parquet caller."""
    calls = {f"forecasts.{t}": (keys, *TABLE_LAYOUT[t]) for t, keys in TABLE_KEYS.items()}
    calls |= {f"market_data.{t}": (tuple(k), "", ()) for t, k in RAW_TABLE_KEYS.items()}
    calls[ASSERTION_RESULTS] = (("assertion",), "", ())
    calls[f"market_data.{INGEST_LOG}"] = (("ingest_id",), "", ())
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
        count_sql(staging),
        merge_counts_sql(target, staging, keys, names),
        merge_sql(target, staging, keys, names),
        count_sql(target),
    )
    for step, sql in zip(MERGE_STEPS, statements, strict=True):
        result.check(f"merge {key}: {step}", sql)


def test_every_statement_the_backend_sends_is_valid_bigquery(
    analysis: Analysis, config: dict[str, Any]
) -> None:
    objects = sql_objects(ROOT / "sql", config["horizons"])
    assertions = assertion_objects(ROOT / "sql")
    expected = {f"{k}: {s}" for k in objects for s in ("query", "deploy", "drop")}
    expected |= {f"assertions.{n}: query" for n in assertions}
    expected |= {f"merge {k}: {step}" for k in merges() for step in MERGE_STEPS}
    expected |= {f"inline {name}" for name in inline_queries(config)}
    tables = [f"{d}.{n}" for d, n in published_tables(objects)]
    expected |= {
        f"publish {k}: {s}" for k in tables if k in analysis.columns for s in PUBLISH_STEPS
    }
    expected |= {
        "publish: version record",
        "publish: transaction",
        "publish: transaction, no versions",
    }
    assert len([k for k in tables if k in analysis.columns]) > 20
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
