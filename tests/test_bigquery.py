"""The BigQuery backend, with the real google-cloud-bigquery client against a local emulator.

``tools/bigquery_emulator.sh`` installs and starts local-bigquery on 127.0.0.1; nothing
here reaches Google. The parity of every SQL object on both backends over the full bundled
sample is checked in test_bigquery_workflow.py, on the objects the workflow's jobs built;
the comparison itself (`_differences`) is here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from test_warehouse import check_lineage_columns_are_added

from zlflow.errors import ConfigError, SqlError, ZlflowError
from zlflow.loading import load_frame, write_parquet_atomic
from zlflow.warehouse.base import Warehouse
from zlflow.warehouse.bigquery import BigQueryWarehouse, MissingObjectError
from zlflow.warehouse.sql import read_sql_object

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "zlflow-test"
LOCATION = "US"
KEYS = ("market_data", "staging", "features", "training", "forecasts", "api")
RELATIVE_TOLERANCE = 1e-9


@pytest.fixture(scope="session")
def bq_client(bigquery_emulator: str) -> Iterator[bigquery.Client]:
    """A real BigQuery client talking to the session's emulator (see conftest)."""
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bigquery_emulator),
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def bq(bq_client: bigquery.Client) -> Iterator[BigQueryWarehouse]:
    """A warehouse on datasets of its own, so tests do not see each other's tables."""
    suffix = uuid.uuid4().hex[:8]
    datasets = {key: f"{key}_{suffix}" for key in KEYS}
    with BigQueryWarehouse(
        PROJECT, LOCATION, datasets, client=bq_client, labels={"rule": "Test_BigQuery"}
    ) as warehouse:
        yield warehouse


def sql_file(tmp_path: Path, dataset: str, name: str, text: str) -> Path:
    path = tmp_path / "sql" / dataset / f"{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_invalid_project_is_a_config_error_before_any_call() -> None:
    with pytest.raises(ConfigError, match="not a valid project id"):
        BigQueryWarehouse("Bad Project", LOCATION, {"staging": "staging"})


def test_load_parquet_replaces_atomically_and_table_info_describes(
    bq: BigQueryWarehouse, tmp_path: Path
) -> None:
    frame = pd.DataFrame(
        {"symbol": ["ZL", "ZL"], "day": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)], "n": [1, 2]}
    )
    info = load_frame(bq, "market_data", "prices", frame, tmp_path / "prices.parquet")
    assert (info.kind, info.rows) == ("table", 2)
    assert info.dataset == bq.datasets["market_data"]
    assert info.columns == [("symbol", "STRING"), ("day", "DATE"), ("n", "INT64")]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(
        ZlflowError, match=r"loading .*broken\.parquet into market_data_\w+\.prices"
    ):
        bq.load_parquet("market_data", "prices", broken)
    assert bq.table_info("market_data", "prices").rows == 2
    with pytest.raises(
        ZlflowError, match=r"staging_\w+\.nope does not exist in project zlflow-test"
    ):
        bq.table_info("staging", "nope")


def test_deploy_writes_partitioned_clustered_tables_and_views(
    bq: BigQueryWarehouse, bq_client: bigquery.Client, tmp_path: Path
) -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["ZL", "ZS", "ZL"],
            "trade_date": [dt.date(2024, 1, 2), dt.date(2024, 1, 2), dt.date(2024, 2, 1)],
            "close": [50.0, 1200.0, 52.0],
        }
    )
    load_frame(bq, "market_data", "bars", frame, tmp_path / "bars.parquet")
    table = sql_file(
        tmp_path,
        "staging",
        "bars",
        "-- materialize: table\n-- partition_by: trade_date\n-- cluster_by: symbol\n"
        '-- description: Bars, "quoted"\nSELECT symbol, trade_date, close FROM ${market_data}.bars',
    )
    info = bq.deploy(read_sql_object(table))
    assert (info.kind, info.rows) == ("table", 3)
    stored = bq_client.get_table(f"{PROJECT}.{bq.datasets['staging']}.bars")
    assert stored.time_partitioning.field == "trade_date"
    assert stored.clustering_fields == ["symbol"]
    assert stored.description == 'Bars, "quoted"'
    view = sql_file(
        tmp_path,
        "features",
        "avg_close",
        "-- materialize: view\nSELECT symbol, AVG(close) AS avg_close "
        "FROM ${staging}.bars GROUP BY symbol",
    )
    info = bq.deploy(read_sql_object(view))
    # A view is not counted: on BigQuery that would be a billed query of the whole view.
    assert (info.kind, info.rows, info.columns) == (
        "view",
        None,
        [("symbol", "STRING"), ("avg_close", "FLOAT64")],
    )
    for materialize, value in (("table", 1), ("view", 2), ("table", 3)):
        path = sql_file(
            tmp_path, "staging", "t", f"-- materialize: {materialize}\nSELECT {value} AS x"
        )
        assert bq.deploy(read_sql_object(path)).kind == materialize
        assert bq.query_arrow("SELECT x FROM ${staging}.t").column("x").to_pylist() == [value]


def test_query_parameters_are_typed_from_python_values(bq: BigQueryWarehouse) -> None:
    params: dict[str, Any] = {
        "i": 3,
        "f": 1.5,
        "s": "ZL",
        "b": True,
        "d": dt.date(2024, 1, 2),
        "ts": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "xs": ["ZL", "ZS"],
    }
    row = bq.query_arrow(
        "SELECT @i + 1 AS i, @f * 2 AS f, @s AS s, NOT @b AS b, DATE_ADD(@d, INTERVAL 1 DAY) AS d, "
        "@ts AS ts, ARRAY_LENGTH(@xs) AS n",
        params,
    ).to_pylist()[0]
    assert row == {
        "i": 4,
        "f": 3.0,
        "s": "ZL",
        "b": False,
        "d": dt.date(2024, 1, 3),
        "ts": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "n": 2,
    }
    with pytest.raises(SqlError, match="@x is None"):
        bq.query_arrow("SELECT @x AS x", {"x": None})


def test_jobs_carry_the_labels(bq: BigQueryWarehouse, bq_client: bigquery.Client) -> None:
    bq.query_arrow("SELECT 1 AS x")
    latest = next(iter(bq_client.list_jobs(max_results=1)))
    assert latest.labels == {"rule": "test_bigquery"}


def test_dry_runs_check_the_sql_and_name_missing_tables(
    bq: BigQueryWarehouse, tmp_path: Path
) -> None:
    """The emulator answers dry runs (and checks the SQL) but reports 0 bytes; BigQuery
    reports the bytes. A query on a missing table is told apart from invalid SQL."""
    frame = pd.DataFrame({"symbol": ["ZL"], "close": [50.0]})
    load_frame(bq, "market_data", "bars", frame, tmp_path / "bars.parquet")
    text = "-- materialize: view\nSELECT AVG(close) AS c FROM ${market_data}.bars"
    view = sql_file(tmp_path, "staging", "avg", text)
    assert bq.dry_run_bytes(read_sql_object(view)) == 0
    assert bq.dry_run_bytes("SELECT symbol FROM ${market_data}.bars") == 0
    with pytest.raises(MissingObjectError, match=r"dry run failed on BigQuery: Not found: Table"):
        bq.dry_run_bytes("SELECT * FROM ${forecasts}.nothing")
    with pytest.raises(SqlError, match="Syntax error") as caught:
        bq.dry_run_bytes("SELECT 1 +")
    assert not isinstance(caught.value, MissingObjectError)
    with pytest.raises(ZlflowError, match="does not exist"):
        bq.table_info("staging", "avg")  # nothing was deployed


def test_merge_is_idempotent_updates_revisions_and_rejects_bad_input(
    bq: BigQueryWarehouse, bq_client: bigquery.Client, tmp_path: Path
) -> None:
    snapshot = tmp_path / "rows.parquet"
    keys = ["day", "model"]
    frame = pd.DataFrame({"day": ["d1", "d2"], "model": ["m", "m"], "value": [1.0, 2.0]})
    write_parquet_atomic(frame, snapshot)
    first = bq.merge_parquet("forecasts", "t", snapshot, keys)
    assert (first.inserted, first.updated, first.unchanged, first.rows) == (2, 0, 0, 2)
    again = bq.merge_parquet("forecasts", "t", snapshot, keys)
    assert (again.inserted, again.updated, again.unchanged, again.rows) == (0, 0, 2, 2)
    revised = pd.DataFrame({"day": ["d2", "d3"], "model": ["m", "m"], "value": [2.5, 3.0]})
    write_parquet_atomic(revised, snapshot)
    merged = bq.merge_parquet("forecasts", "t", snapshot, keys)
    assert (merged.inserted, merged.updated, merged.unchanged, merged.rows) == (1, 1, 0, 3)
    query = "SELECT * FROM ${forecasts}.t ORDER BY day"
    before = bq.query_arrow(query)
    assert before.column("value").to_pylist() == [1.0, 2.5, 3.0]
    write_parquet_atomic(pd.DataFrame({"day": ["d4"], "model": ["m"], "value": ["oops"]}), snapshot)
    with pytest.raises(ZlflowError, match=r"does not match forecasts_\w+\.t: missing or retyped"):
        bq.merge_parquet("forecasts", "t", snapshot, keys)
    duplicated = pd.DataFrame({"day": ["d5", "d5"], "model": ["m", "m"], "value": [1.0, 2.0]})
    write_parquet_atomic(duplicated, snapshot)
    with pytest.raises(ZlflowError, match="1 duplicate key"):
        bq.merge_parquet("forecasts", "t", snapshot, keys)
    assert bq.query_arrow(query).equals(before)
    leftovers = bq_client.list_tables(f"{PROJECT}.{bq.datasets['forecasts']}")
    assert [t.table_id for t in leftovers] == ["t"]


def test_a_merge_adds_lineage_columns_an_older_table_lacks(
    bq: BigQueryWarehouse, tmp_path: Path
) -> None:
    check_lineage_columns_are_added(bq, tmp_path)


def test_a_service_error_names_the_sql_file_and_line_and_keeps_the_old_object(
    bq: BigQueryWarehouse, tmp_path: Path
) -> None:
    good = sql_file(tmp_path, "staging", "broken", "-- materialize: table\nSELECT 1 AS x")
    bq.deploy(read_sql_object(good))
    bad = sql_file(
        tmp_path,
        "staging",
        "broken",
        "-- materialize: table\n-- description: a SELECT list that ends in an operator\n"
        "SELECT\n  1 +\nFROM ${staging}.nothing\n",
    )
    with pytest.raises(SqlError) as caught:
        bq.deploy(read_sql_object(bad))
    message = str(caught.value)
    assert message.startswith(
        f"{bad}: deploying {bq.datasets['staging']}.broken failed on BigQuery"
    )
    assert "at line 5:" in message and "Syntax error" in message
    assert "\n" not in message
    assert bq.query_arrow("SELECT x FROM ${staging}.broken").column("x").to_pylist() == [1]
    # Switching to a view drops the table first, but only once the view's query compiles.
    # (That check sends the file alone, and the emulator numbers lines from the first one
    # that is not a comment, so the line it names is not asserted here.)
    bad_view = sql_file(
        tmp_path, "staging", "broken", "-- materialize: view\nSELECT\n  1 +\nFROM x\n"
    )
    with pytest.raises(SqlError, match=r"broken\.sql: deploying .* at line \d+: Syntax error"):
        bq.deploy(read_sql_object(bad_view))
    assert bq.table_info("staging", "broken").kind == "table"


# --- dialect parity: the same SQL files on DuckDB (transpiled) and BigQuery (as written) ---


def _kind(type_: pa.DataType) -> str:
    if pa.types.is_integer(type_) or (pa.types.is_decimal(type_) and type_.scale == 0):
        return "int"  # DuckDB's HUGEINT arrives as decimal(38, 0)
    if pa.types.is_floating(type_):
        return "float"
    if pa.types.is_decimal(type_):
        return "decimal"  # compared as floats, but never equal to a FLOAT64 column
    if pa.types.is_timestamp(type_):
        return "timestamp"
    for kind in ("boolean", "string", "large_string", "date"):
        if getattr(pa.types, f"is_{kind}")(type_):
            return kind.removeprefix("large_")
    return str(type_)


def _normalized(table: pa.Table) -> tuple[pa.Table, dict[str, str]]:
    """Comparable types (int64, float64, naive UTC microseconds), rows sorted by every column.

    Float columns sort last so that rounding cannot reorder rows with distinct keys.
    """
    kinds = {field.name: _kind(field.type) for field in table.schema}
    targets = {
        "int": pa.int64(),
        "float": pa.float64(),
        "decimal": pa.float64(),
        "timestamp": pa.timestamp("us"),
    }
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if kinds[field.name] == "timestamp" and field.type.tz is not None:
            column = column.cast(pa.timestamp("us", tz="UTC"))
        target = targets.get(kinds[field.name])
        columns.append(column.cast(target) if target is not None else column)
    order = sorted(kinds, key=lambda c: kinds[c] in ("float", "decimal"))
    normalized = pa.table(columns, names=table.column_names)
    return normalized.sort_by([(c, "ascending") for c in order]), kinds


def _differences(name: str, duck: pa.Table, bq: pa.Table) -> list[str]:
    """Each column whose values differ, with a count and the first differing row's keys."""
    if duck.column_names != bq.column_names:
        return [f"{name}: columns {duck.column_names} on DuckDB, {bq.column_names} on BigQuery"]
    if duck.num_rows != bq.num_rows:
        return [f"{name}: {duck.num_rows} rows on DuckDB, {bq.num_rows} on BigQuery"]
    left, left_kinds = _normalized(duck)
    right, right_kinds = _normalized(bq)
    keys = [c for c, k in left_kinds.items() if k not in ("float", "decimal")][:3]
    problems = []
    for column in left.column_names:
        if left_kinds[column] != right_kinds[column]:
            problems.append(
                f"{name}.{column}: {left_kinds[column]} on DuckDB, "
                f"{right_kinds[column]} on BigQuery"
            )
            continue
        a, b = left.column(column), right.column(column)
        a_null = a.is_null().to_numpy(zero_copy_only=False)
        b_null = b.is_null().to_numpy(zero_copy_only=False)
        if left_kinds[column] in ("float", "decimal"):
            x = a.fill_null(0.0).to_numpy()
            y = b.fill_null(0.0).to_numpy()
            with np.errstate(invalid="ignore"):
                scale = np.maximum(np.abs(x), np.abs(y))
                close = (x == y) | (np.abs(x - y) <= RELATIVE_TOLERANCE * scale)
            close |= np.isnan(x) & np.isnan(y)
            same = (a_null == b_null) & (a_null | close)
        else:
            equal = pc.equal(a, b).fill_null(False).to_numpy(zero_copy_only=False)
            same = (a_null & b_null) | equal
        if not same.all():
            first = int(np.argmax(~same))
            where = {k: left.column(k)[first].as_py() for k in keys}
            problems.append(
                f"{name}.{column}: {int((~same).sum())} of {len(same)} rows differ, first at "
                f"{where}: DuckDB {a[first].as_py()!r}, BigQuery {b[first].as_py()!r}"
            )
    return problems


def test_the_parity_comparison_sees_values_types_and_nulls() -> None:
    base = pa.table({"k": ["a", "b"], "x": [1.0, None], "n": [1, 2]})
    reordered = pa.table({"k": ["b", "a"], "x": [None, 1.0 + 1e-12], "n": [2, 1]})
    assert _differences("t", base, reordered) == []
    other = pa.table({"k": ["a", "b"], "x": [1.001, 0.0], "n": [1.0, 2.0]})
    assert _differences("t", base, other) == [
        "t.x: 2 of 2 rows differ, first at {'k': 'a', 'n': 1}: DuckDB 1.0, BigQuery 1.001",
        "t.n: int on DuckDB, float on BigQuery",
    ]


def _copy(source: Warehouse, target: Warehouse, dataset_key: str, name: str, folder: Path) -> None:
    path = folder / f"{dataset_key}.{name}.parquet"
    write_parquet_atomic(source.query_arrow(f"SELECT * FROM ${{{dataset_key}}}.{name}"), path)
    target.load_parquet(dataset_key, name, path)


def test_a_merge_that_creates_a_table_partitions_and_clusters_it(
    bq: BigQueryWarehouse, bq_client: bigquery.Client, tmp_path: Path
) -> None:
    snapshot = tmp_path / "rows.parquet"
    frame = pd.DataFrame(
        {
            "as_of_date": [dt.date(2024, 6, 20), dt.date(2024, 6, 21)],
            "model": ["lgbm", "lgbm"],
            "value": [1.0, 2.0],
        }
    )
    write_parquet_atomic(frame, snapshot)
    result = bq.merge_parquet(
        "forecasts",
        "layout",
        snapshot,
        ["as_of_date", "model"],
        "DATE_TRUNC(as_of_date, MONTH)",
        ("model",),
    )
    assert result.inserted == 2
    stored = bq_client.get_table(f"{PROJECT}.{bq.datasets['forecasts']}.layout")
    assert stored.time_partitioning.field == "as_of_date"
    assert stored.clustering_fields == ["model"]
