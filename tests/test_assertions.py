"""Every data-quality assertion passes on the real sample and catches data made bad on purpose.

Bad data is written into a copy of the session's warehouse (the shared file is never
changed); each case names the rows it breaks, and the failure message must name the
assertion, how many rows offend and which ones.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zlflow.assertions import SHOWN_ROWS, AssertionResult, failure, run_assertion
from zlflow.errors import AssertionFailed
from zlflow.export import ID_COLUMNS
from zlflow.objects import assertion_objects
from zlflow.warehouse.base import Warehouse
from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import SqlObject, read_sql_text

ROOT = Path(__file__).resolve().parents[1]
ASSERTIONS = assertion_objects(ROOT / "sql")
# Columns of features.zl_daily_v1 that describe a row; every other column is a feature.
NON_FEATURE_COLUMNS = (
    "trade_date",
    "session_number",
    "close",
    "adj_close",
    "is_roll_day",
    "is_warmup",
)
NULLS_ASSERTION = "features_nulls_only_in_warmup"


def check_assertion(warehouse: Warehouse, assertion: SqlObject) -> AssertionResult:
    """Run an assertion; raise the job's error (offending rows shown) when it fails."""
    result = run_assertion(warehouse, assertion)
    if not result.passed:
        raise failure(assertion, result)
    return result


@dataclass(frozen=True)
class Corruption:
    """Statements (DuckDB SQL, ``${dataset}`` placeholders) that break one assertion."""

    assertion: str
    id: str
    statements: tuple[str, ...]
    offending_rows: int
    # Patterns (re.search) the failure message must show: the offending keys and values.
    shown: tuple[str, ...]


ZL_DAY = "DATE '2015-06-01'"  # a ZL session past feature warm-up

CORRUPTIONS: tuple[Corruption, ...] = (
    Corruption(
        "staging_unique_symbol_date",
        "duplicate_zl_row",
        (
            "INSERT INTO ${staging}.futures_daily SELECT * FROM ${staging}.futures_daily "
            f"WHERE symbol = 'ZL' AND trade_date = {ZL_DAY}",
        ),
        1,
        ("ZL", "2015-06-01"),
    ),
    Corruption(
        "staging_unique_symbol_date",
        "duplicate_rows_two_symbols",
        (
            "INSERT INTO ${staging}.futures_daily SELECT * FROM ${staging}.futures_daily "
            "WHERE symbol IN ('CL', 'ES') AND trade_date = DATE '2020-04-20'",
            "INSERT INTO ${staging}.futures_daily SELECT * FROM ${staging}.futures_daily "
            "WHERE symbol = 'CL' AND trade_date = DATE '2020-04-20'",
        ),
        2,
        ("CL", "ES", "2020-04-20"),
    ),
    Corruption(
        "staging_zl_no_long_gaps",
        "ten_zl_sessions_missing",
        (
            "DELETE FROM ${staging}.futures_daily WHERE symbol = 'ZL' "
            "AND trade_date BETWEEN DATE '2016-03-01' AND DATE '2016-03-14'",
        ),
        1,
        (r"ZL\s+2016-02-29\s+2016-03-15\s+11$",),
    ),
    Corruption(
        "staging_zl_no_long_gaps",
        "six_zl_sessions_apart",
        (
            "DELETE FROM ${staging}.futures_daily WHERE symbol = 'ZL' "
            "AND trade_date BETWEEN DATE '2016-03-01' AND DATE '2016-03-07'",
        ),
        1,
        (r"ZL\s+2016-02-29\s+2016-03-08\s+6$",),
    ),
    Corruption(
        "staging_zl_no_long_gaps",
        "five_zl_sessions_apart_is_allowed",
        (
            "DELETE FROM ${staging}.futures_daily WHERE symbol = 'ZL' "
            "AND trade_date BETWEEN DATE '2016-03-01' AND DATE '2016-03-04'",
        ),
        0,
        (),
    ),
    Corruption(
        "staging_ohlc_consistent",
        "zl_high_below_close",
        (
            "UPDATE ${staging}.futures_daily SET high = close - 1 "
            f"WHERE symbol = 'ZL' AND trade_date = {ZL_DAY}",
        ),
        1,
        (r"ZL\s+2015-06-01",),
    ),
    Corruption(
        "staging_ohlc_consistent",
        "zs_low_above_open_and_close",
        (
            "UPDATE ${staging}.futures_daily SET low = GREATEST(open, close) + 0.5 "
            "WHERE symbol = 'ZS' AND trade_date = DATE '2012-09-04'",
        ),
        1,
        ("ZS", "2012-09-04"),
    ),
    Corruption(
        "staging_ohlc_consistent",
        "missing_close",
        (
            "UPDATE ${staging}.futures_daily SET close = NULL "
            "WHERE symbol = 'ES' AND trade_date = DATE '2008-10-10'",
        ),
        1,
        ("ES", "2008-10-10"),
    ),
    Corruption(
        "staging_ohlc_consistent",
        "high_equal_to_close_is_allowed",
        (
            "UPDATE ${staging}.futures_daily SET high = GREATEST(open, close) "
            f"WHERE symbol = 'ZL' AND trade_date = {ZL_DAY}",
        ),
        0,
        (),
    ),
    Corruption(
        "staging_macro_value_bounds",
        "dgs10_in_basis_points",
        (
            "UPDATE ${staging}.macro_releases SET value = value * 100 "
            "WHERE series_id = 'DGS10' AND obs_date = DATE '2015-06-01'",
        ),
        1,
        (r"DGS10\s+2015-06-01\s+2\d\d\.\d+\s+-5\.0\s+25\.0",),
    ),
    Corruption(
        "staging_price_bounds",
        "zl_close_9999",
        (
            "UPDATE ${staging}.futures_daily SET close = 9999 "
            "WHERE symbol = 'ZL' AND trade_date = DATE '2015-06-02'",
        ),
        1,
        (r"ZL\s+2015-06-02\s+9999\.0\s+5\.0\s+250\.0",),
    ),
    Corruption(
        "staging_price_bounds",
        "unknown_symbol",
        (
            "UPDATE ${staging}.futures_daily SET symbol = 'XX' "
            "WHERE symbol = 'ZC' AND trade_date = DATE '2012-08-10'",
        ),
        1,
        ("XX", "2012-08-10"),
    ),
    Corruption(
        "staging_price_bounds",
        "cl_negative_within_bounds_is_allowed",
        (
            "UPDATE ${staging}.futures_daily SET close = -99 "
            "WHERE symbol = 'CL' AND trade_date = DATE '2020-04-20'",
        ),
        0,
        (),
    ),
    Corruption(
        NULLS_ASSERTION,
        "null_feature_past_warmup",
        (f"UPDATE ${{features}}.zl_daily_v1 SET rsi_14 = NULL WHERE trade_date = {ZL_DAY}",),
        1,
        ("2015-06-01", "rsi_14"),
    ),
    Corruption(
        NULLS_ASSERTION,
        "null_regime_and_weather",
        (
            "UPDATE ${features}.zl_daily_v1 SET regime = NULL WHERE trade_date = DATE '2015-06-02'",
            "UPDATE ${features}.zl_daily_v1 SET wx_prcp_anom_30d = NULL "
            "WHERE trade_date = DATE '2021-03-03'",
        ),
        2,
        ("2015-06-02", "regime", "2021-03-03", "wx_prcp_anom_30d"),
    ),
    Corruption(
        NULLS_ASSERTION,
        "null_feature_in_warmup_is_allowed",
        ("UPDATE ${features}.zl_daily_v1 SET rsi_14 = NULL WHERE trade_date = DATE '2005-06-01'",),
        0,
        (),
    ),
    Corruption(
        "training_target_after_feature",
        "target_before_trade_date",
        (
            "UPDATE ${training}.zl_targets SET target_date = trade_date - 1 "
            f"WHERE trade_date = {ZL_DAY} AND horizon_name = '1m'",
        ),
        1,
        ("1m", "2015-06-01", "2015-05-31"),
    ),
    Corruption(
        "training_target_after_feature",
        "target_on_trade_date",
        (
            "UPDATE ${training}.zl_targets SET target_date = trade_date "
            "WHERE trade_date BETWEEN DATE '2010-01-04' AND DATE '2010-01-08' "
            "AND horizon_name = '1m'",
        ),
        5,
        ("2010-01-04", "2010-01-08"),
    ),
    Corruption(
        "layer_row_counts",
        "raw_zl_bar_missing",
        (
            "DELETE FROM ${market_data}.raw_futures_daily "
            "WHERE symbol = 'ZL' AND bar_label = TIMESTAMP '2015-05-31 21:00:00'",
        ),
        1,
        ("raw ZL bars vs staged ZL bars", "4999", "5000"),
    ),
    Corruption(
        "layer_row_counts",
        "feature_row_missing",
        (f"DELETE FROM ${{features}}.zl_daily_v1 WHERE trade_date = {ZL_DAY}",),
        1,
        ("staged ZL sessions vs feature rows", "4995", "4994"),
    ),
    Corruption(
        "layer_row_counts",
        "horizon_without_targets",
        ("DELETE FROM ${training}.zl_targets WHERE horizon_name = '1m'",),
        1,
        ("configured horizon without targets: 1m",),
    ),
)


def _case_id(case: Corruption) -> str:
    return f"{case.assertion}-{case.id}"


@pytest.fixture
def scratch(
    built_warehouse: Path, config: dict[str, Any], tmp_path: Path
) -> Iterator[DuckDBWarehouse]:
    """A private copy of the built warehouse, free to corrupt."""
    copy = tmp_path / built_warehouse.name
    shutil.copy(built_warehouse, copy)
    with DuckDBWarehouse(copy, config["datasets"]) as warehouse:
        yield warehouse


def _corrupt(warehouse: DuckDBWarehouse, statements: tuple[str, ...]) -> None:
    for statement in statements:
        warehouse.execute(read_sql_text(statement).render(warehouse.datasets))


def _expect_failure(
    warehouse: DuckDBWarehouse, name: str, rows: int, shown: tuple[str, ...]
) -> str:
    with pytest.raises(AssertionFailed) as caught:
        check_assertion(warehouse, ASSERTIONS[name])
    message = str(caught.value)
    assert f"assertion {name} failed" in message
    assert str(ASSERTIONS[name].path) in message
    assert re.search(rf"\b{rows} offending row\(s\)", message), message
    assert f"first {min(rows, SHOWN_ROWS)}:" in message
    for pattern in shown:
        assert re.search(pattern, message), f"{pattern!r} not in:\n{message}"
    return message


def test_every_assertion_file_has_bad_data_cases() -> None:
    assert len(ASSERTIONS) == 8
    broken = {c.assertion for c in CORRUPTIONS if c.offending_rows > 0}
    assert broken == set(ASSERTIONS)
    assert len({_case_id(c) for c in CORRUPTIONS}) == len(CORRUPTIONS)


@pytest.mark.parametrize("name", sorted(ASSERTIONS))
def test_assertion_passes_on_sample(warehouse: DuckDBWarehouse, name: str) -> None:
    result = check_assertion(warehouse, ASSERTIONS[name])
    assert result.passed
    assert result.offending_rows == 0
    assert result.sample.num_rows == 0
    assert ASSERTIONS[name].description  # the failure message quotes it


@pytest.mark.parametrize("case", CORRUPTIONS, ids=_case_id)
def test_assertion_catches_bad_data(scratch: DuckDBWarehouse, case: Corruption) -> None:
    # The copy passes before it is corrupted ...
    assert check_assertion(scratch, ASSERTIONS[case.assertion]).passed
    _corrupt(scratch, case.statements)
    if case.offending_rows == 0:
        # ... and a change that stays inside the rule still passes.
        assert check_assertion(scratch, ASSERTIONS[case.assertion]).passed
        return
    _expect_failure(scratch, case.assertion, case.offending_rows, case.shown)


def test_layer_counts_message_names_the_horizon(scratch: DuckDBWarehouse) -> None:
    _corrupt(
        scratch,
        (
            "DELETE FROM ${training}.zl_targets "
            f"WHERE trade_date = {ZL_DAY} AND horizon_name = '1m'",
        ),
    )
    _expect_failure(
        scratch,
        "layer_row_counts",
        1,
        ("4611", "4610", "feature rows past warm-up vs training rows for 1m"),
    )


def test_many_offending_rows_are_counted_and_ten_shown(scratch: DuckDBWarehouse) -> None:
    _corrupt(
        scratch,
        (
            "UPDATE ${staging}.futures_daily SET close = 9999 "
            "WHERE symbol = 'ZL' AND trade_date BETWEEN DATE '2015-06-01' AND DATE '2015-06-30'",
        ),
    )
    message = _expect_failure(scratch, "staging_price_bounds", 22, ("2015-06-01",))
    assert message.count("9999") == SHOWN_ROWS
    assert "2015-06-30" not in message  # rows past the first ten are counted, not shown


# --- the NULL assertion cannot drift from the feature table ------------------------------


def _feature_table_columns(warehouse: DuckDBWarehouse) -> list[str]:
    info = warehouse.table_info("features", "zl_daily_v1")
    return [name for name, _ in info.columns]


def _null_checked_columns() -> tuple[set[str], set[str]]:
    """Columns the assertion lists in its report and in its WHERE clause."""
    text = ASSERTIONS[NULLS_ASSERTION].text
    report, _, where = text.partition("WHERE NOT is_warmup")
    listed = set(re.findall(r"IF\((\w+) IS NULL, \['(\w+)'\]", report))
    assert all(column == label for column, label in listed)
    return {column for column, _ in listed}, set(re.findall(r"(\w+) IS NULL", where))


def test_null_assertion_lists_every_feature_column(warehouse: DuckDBWarehouse) -> None:
    columns = _feature_table_columns(warehouse)
    assert set(NON_FEATURE_COLUMNS) <= set(columns)
    features = set(columns) - set(NON_FEATURE_COLUMNS)
    assert len(features) == 49  # 48 model inputs + the regime stamp
    reported, filtered = _null_checked_columns()
    assert reported == features, (features - reported, reported - features)
    assert filtered == features, (features - filtered, filtered - features)
    # Export treats the same columns as non-inputs, so the two lists agree.
    assert {c for c in columns if c not in ID_COLUMNS} == features - {"regime"}


def test_null_assertion_catches_each_feature_column(scratch: DuckDBWarehouse) -> None:
    """One NULL per column, each on its own post-warm-up date, each reported by name."""
    features = [c for c in _feature_table_columns(scratch) if c not in NON_FEATURE_COLUMNS]
    dates = (
        scratch.query_arrow(
            "SELECT trade_date FROM ${features}.zl_daily_v1 WHERE NOT is_warmup "
            f"ORDER BY trade_date LIMIT {len(features)}"
        )
        .column("trade_date")
        .to_pylist()
    )
    for column, day in zip(features, dates, strict=True):
        scratch.execute(
            f"UPDATE {scratch.table('features', 'zl_daily_v1')} SET {column} = NULL "
            "WHERE trade_date = $day",
            {"day": day},
        )
    rows = scratch.query_arrow(ASSERTIONS[NULLS_ASSERTION].text).to_pylist()
    reported = {row["trade_date"]: row["null_columns"] for row in rows}
    assert reported == dict(zip(dates, features, strict=True))
