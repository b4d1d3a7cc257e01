"""BigQuery SQL rendered and transpiled for DuckDB keeps BigQuery's meaning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from zlflow.errors import SqlError
from zlflow.objects import assertion_objects, deploy_order, sql_objects
from zlflow.warehouse.sql import check_identifier, read_sql_object
from zlflow.warehouse.transpile import parse_bigquery, to_duckdb

ROOT = Path(__file__).resolve().parents[1]


def run(sql: str) -> list[tuple[object, ...]]:
    return duckdb.connect().execute(to_duckdb(sql)).fetchall()


def test_dayofweek_counts_sunday_as_one_like_bigquery() -> None:
    # 2024-06-16 was a Sunday, 2024-06-22 a Saturday.
    assert run(
        "SELECT EXTRACT(DAYOFWEEK FROM DATE '2024-06-16'), "
        "EXTRACT(DAYOFWEEK FROM DATE '2024-06-22')"
    ) == [(1, 7)]


def test_date_arithmetic_returns_dates_not_timestamps() -> None:
    sql = (
        "SELECT DATE_ADD(DATE '2024-01-31', INTERVAL 1 DAY), "
        "DATE_SUB(DATE '2024-03-31', INTERVAL 1 MONTH), "
        "DATE_TRUNC(DATE '2024-06-13', WEEK(MONDAY)), DATE_TRUNC(DATE '2024-06-13', WEEK)"
    )
    con = duckdb.connect()
    result = con.execute(to_duckdb(sql))
    assert [d[1] for d in result.description] == ["DATE"] * 4
    assert result.fetchall() == [
        (dt.date(2024, 2, 1), dt.date(2024, 2, 29), dt.date(2024, 6, 10), dt.date(2024, 6, 9))
    ]


def test_numeric_keeps_bigquery_precision() -> None:
    assert run("SELECT CAST(1.123456789 AS NUMERIC)") == [(Decimal("1.123456789"),)]


def test_division_by_zero_is_an_error_like_bigquery() -> None:
    with pytest.raises(duckdb.Error, match="division by zero"):
        run("SELECT x / y FROM UNNEST([1.0]) AS x CROSS JOIN UNNEST([0.0]) AS y")
    with pytest.raises(duckdb.Error, match="division by zero"):
        run("SELECT 1 / 0")
    assert run("SELECT SAFE_DIVIDE(1, 0), 1 / 4") == [(None, 0.25)]


def test_safe_prefix_is_rejected_with_a_hint() -> None:
    with pytest.raises(SqlError, match="SAFE_DIVIDE"):
        to_duckdb("SELECT SAFE.LN(-1.0)")


def test_only_single_queries_are_accepted() -> None:
    with pytest.raises(SqlError, match="exactly one SELECT"):
        parse_bigquery("CREATE TABLE x.y PARTITION BY d AS SELECT CURRENT_DATE() AS d")
    with pytest.raises(SqlError, match="exactly one SELECT"):
        parse_bigquery("SELECT 1; SELECT 2")
    with pytest.raises(SqlError, match="cannot parse"):
        parse_bigquery("SELEC 1 FROM")


@pytest.mark.parametrize("bad", ["a.b", "x; DROP TABLE y", "1abc", "", "a-b", "a b"])
def test_identifiers_from_config_are_validated(bad: str) -> None:
    with pytest.raises(SqlError, match="not a valid identifier"):
        check_identifier(bad, "dataset")


def test_template_values_cannot_inject_sql(tmp_path: Path) -> None:
    path = tmp_path / "training" / "vw.sql"
    path.parent.mkdir()
    path.write_text("SELECT * FROM ${training}.t WHERE h = '${horizon}'")
    with pytest.raises(SqlError, match="must be letters"):
        read_sql_object(path, "vw", {"horizon": "1m' OR '1'='1"})
    obj = read_sql_object(path, "vw", {"horizon": "1m"})
    assert obj.render({"training": "prod_training"}) == (
        "SELECT * FROM prod_training.t WHERE h = '1m'"
    )
    with pytest.raises(SqlError, match="not a valid identifier"):
        obj.render({"training": "x;DROP"})


def test_unknown_placeholder_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "staging" / "x.sql"
    path.parent.mkdir()
    path.write_text("SELECT * FROM ${nowhere}.t")
    with pytest.raises(SqlError, match=r"x\.sql: unknown template variable \$\{nowhere\}"):
        read_sql_object(path).render({"staging": "staging"})


def test_every_sql_file_transpiles_and_uses_no_trap_constructs() -> None:
    datasets = {
        k: k for k in ("market_data", "staging", "features", "training", "forecasts", "api")
    }
    objects = list(sql_objects(ROOT / "sql", {"1m": 21, "1w": 5}).values())
    objects += list(assertion_objects(ROOT / "sql").values())
    assert len(objects) >= 20
    for obj in objects:
        rendered = obj.render(datasets)
        assert "SAFE." not in rendered.upper(), obj.path
        to_duckdb(rendered, obj.path)


def test_dependencies_come_from_the_sql_and_order_is_topological() -> None:
    objects = sql_objects(ROOT / "sql", {"1m": 21})
    order = deploy_order(objects)
    position = {key: i for i, key in enumerate(order)}
    for key, obj in objects.items():
        for dataset, name in obj.dependencies():
            dep = f"{dataset}.{name}"
            if dep in objects:
                assert position[dep] < position[key], (dep, key)
    assert objects["training.vw_zl_1m_v1"].dependencies() == [
        ("features", "zl_daily_v1"),
        ("training", "zl_targets"),
    ]


def test_reading_an_undefined_object_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "a.sql").write_text("SELECT * FROM ${market_data}.no_such_table")
    with pytest.raises(SqlError, match=r"a\.sql reads market_data\.no_such_table"):
        deploy_order(sql_objects(tmp_path, {}))


def test_format_is_printf_style_like_bigquery() -> None:
    assert run("SELECT FORMAT('%s p_up %.2f at %d', 'ZL', 0.1234, 5)") == [("ZL p_up 0.12 at 5",)]
    with pytest.raises(SqlError, match="%t"):
        to_duckdb("SELECT FORMAT('%t', 1)")


def test_sqrt_and_log_domain_errors_raise_like_bigquery() -> None:
    assert run("SELECT SQRT(4.0), LN(1.0), LOG(8.0, 2)") == [(2.0, 0.0, 3.0)]
    for sql, message in (
        ("SELECT SQRT(-1.0)", "square root of a negative value"),
        ("SELECT LN(0.0)", "logarithm of a non-positive value"),
        ("SELECT LOG(-8.0, 2)", "logarithm of a non-positive value"),
    ):
        with pytest.raises(duckdb.Error, match=message):
            run(sql)
