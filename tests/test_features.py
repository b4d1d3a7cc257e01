"""Warehouse feature SQL against an independent pandas reference, on the real sample.

The SQL computes recursive indicators in closed form (``sql/features/ema.sql``), the MACD
signal through a partial-fraction identity, and multi-day returns as sums of adjusted
daily returns. ``reference_features`` recomputes everything from its textbook definition
on the same staging rows; these tests require both to agree to a relative error of 1e-9
on every row past warm-up (session_number >= 252), with the same NULLs.

Tolerance: ``assert_allclose(rtol=1e-9, atol=1e-12)``. Returns, MACD, %B and the
correlations cross zero, where a relative error means nothing (two correct values of
1e-17 and 0 differ by 100%); the tiny atol covers exactly those rows and is far below
any real difference (daily returns are ~1e-2, the worst genuine rounding seen is ~2e-13).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from reference_features import (
    CROSS_ASSET_COLUMNS,
    TECHNICAL_COLUMNS,
    cross_asset_features,
    ema_input_series,
    recursive_ema,
    technical_features,
)
from workflow_tools import ROOT

from zlflow.warehouse.duckdb import DuckDBWarehouse
from zlflow.warehouse.sql import read_sql_object

WARMUP_SESSIONS = 252
RTOL = 1e-9
ATOL = 1e-12
SYMBOLS = ("ZL", "ZS", "CL")

# features.technical_daily has no macd_hist; zl_daily_v1 derives it as macd - macd_signal.
TECHNICAL_SQL_COLUMNS = tuple(c for c in TECHNICAL_COLUMNS if c != "macd_hist")


def _frame(warehouse: DuckDBWarehouse, sql: str) -> pd.DataFrame:
    """A query result as pandas, dates as datetime64 (merge_asof needs ordered keys)."""
    return warehouse.query_arrow(sql).to_pandas(date_as_object=False)


@pytest.fixture(scope="module")
def tables(built_warehouse: Path, config: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Staging input and feature outputs, read once per module from the session warehouse.

    Opens its own short-lived connection (as the ``warehouse`` fixture does) so the
    reference, which takes a second or two, is computed once rather than per parameter.
    """
    with DuckDBWarehouse(built_warehouse, config["datasets"]) as warehouse:
        return {
            "futures": _frame(warehouse, "SELECT * FROM ${staging}.futures_daily"),
            "technical": _frame(warehouse, "SELECT * FROM ${features}.technical_daily"),
            "cross": _frame(warehouse, "SELECT * FROM ${features}.cross_asset_daily"),
            "zl": _frame(warehouse, "SELECT * FROM ${features}.zl_daily_v1"),
            "ema": _frame(warehouse, "SELECT * FROM ${features}.ema"),
        }


@pytest.fixture(scope="module")
def reference_technical(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Reference indicators keyed like the SQL, with staging's session_number attached."""
    futures = tables["futures"]
    ref = technical_features(futures)
    keys = futures[["symbol", "trade_date", "session_number", "adj_close"]]
    return ref.merge(keys, on=["symbol", "trade_date"], how="left", validate="1:1")


@pytest.fixture(scope="module")
def reference_cross(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Reference cross-asset features on ZL dates, with ZL's session_number attached."""
    futures = tables["futures"]
    ref = cross_asset_features(futures)
    zl = futures.loc[futures["symbol"] == "ZL", ["trade_date", "session_number"]]
    return ref.merge(zl, on="trade_date", how="left", validate="1:1")


def _assert_same(
    keys: pd.DataFrame, sql: pd.Series, ref: pd.Series, label: str, rtol: float = RTOL
) -> None:
    """Same NULL rows, and values within tolerance; failures name the first rows."""
    sql_null = sql.isna().to_numpy()
    ref_null = ref.isna().to_numpy()
    differ = sql_null != ref_null
    if differ.any():
        rows = keys.loc[differ].head(5).assign(sql=sql[differ].head(5), ref=ref[differ].head(5))
        pytest.fail(f"{label}: NULL in one side only on {int(differ.sum())} rows, first:\n{rows}")
    both = ~sql_null
    np.testing.assert_allclose(
        sql[both].to_numpy(dtype=float),
        ref[both].to_numpy(dtype=float),
        rtol=rtol,
        atol=ATOL,
        err_msg=f"{label}: SQL vs pandas reference",
    )


def _joined_technical(
    technical: pd.DataFrame, reference: pd.DataFrame, symbol: str
) -> pd.DataFrame:
    """SQL and reference rows of one symbol, side by side, sorted by date."""
    sql = technical[technical["symbol"] == symbol]
    ref = reference[reference["symbol"] == symbol]
    joined = sql.merge(
        ref, on=["symbol", "trade_date"], how="outer", suffixes=("_sql", "_ref"), indicator=True
    )
    assert (joined["_merge"] == "both").all(), f"{symbol}: SQL and reference rows differ"
    return joined.sort_values("trade_date").reset_index(drop=True)


def test_technical_rows_match_staging(tables: dict[str, pd.DataFrame]) -> None:
    """technical_daily has exactly one row per staging row, with its session number."""
    keys = ["symbol", "trade_date", "session_number"]
    futures = tables["futures"][keys].sort_values(keys).reset_index(drop=True)
    technical = tables["technical"][keys].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(futures, technical)


@pytest.mark.parametrize("column", TECHNICAL_SQL_COLUMNS)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_technical_matches_reference(
    tables: dict[str, pd.DataFrame], reference_technical: pd.DataFrame, symbol: str, column: str
) -> None:
    """Every technical indicator equals its definition past warm-up, NULLs included."""
    joined = _joined_technical(tables["technical"], reference_technical, symbol)
    rows = joined["session_number_sql"] >= WARMUP_SESSIONS
    assert rows.sum() > 4000
    _assert_same(
        joined.loc[rows, ["trade_date"]],
        joined.loc[rows, f"{column}_sql"],
        joined.loc[rows, f"{column}_ref"],
        f"{symbol} {column}",
    )


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_technical_warmup_rows_match_reference(
    tables: dict[str, pd.DataFrame], reference_technical: pd.DataFrame, symbol: str
) -> None:
    """Inside warm-up too, each indicator is NULL exactly until its window is full.

    Beyond the requirement (which is past warm-up only): it pins every NULL of the first
    252 sessions to the definition, e.g. sma_ratio_200 starts on session 199, rv_63 on 63.
    """
    joined = _joined_technical(tables["technical"], reference_technical, symbol)
    rows = joined["session_number_sql"] < WARMUP_SESSIONS
    assert rows.sum() == WARMUP_SESSIONS
    for column in TECHNICAL_SQL_COLUMNS:
        _assert_same(
            joined.loc[rows, ["trade_date"]],
            joined.loc[rows, f"{column}_sql"],
            joined.loc[rows, f"{column}_ref"],
            f"{symbol} {column} (warm-up)",
        )


def test_cl_returns_count_the_negative_settlement_as_zero(
    tables: dict[str, pd.DataFrame],
) -> None:
    """CL's -37.63 close on 2020-04-20 has no log return: into and out of it count as 0."""
    cl = tables["technical"].query("symbol == 'CL'").set_index("trade_date")
    assert cl.loc[pd.Timestamp("2020-04-20"), "ret_1d"] == 0.0
    assert cl.loc[pd.Timestamp("2020-04-21"), "ret_1d"] == 0.0
    assert np.isfinite(cl.loc[pd.Timestamp("2020-04-21"), "rv_63"])


@pytest.mark.parametrize("column", TECHNICAL_COLUMNS + CROSS_ASSET_COLUMNS)
def test_zl_daily_v1_matches_reference(
    tables: dict[str, pd.DataFrame],
    reference_technical: pd.DataFrame,
    reference_cross: pd.DataFrame,
    column: str,
) -> None:
    """The ZL feature table (macd_hist included) equals the reference past warm-up."""
    zl = tables["zl"].sort_values("trade_date").reset_index(drop=True)
    technical = reference_technical[reference_technical["symbol"] == "ZL"]
    ref = technical.drop(columns=["symbol", "session_number", "adj_close"]).merge(
        reference_cross.drop(columns="session_number"), on="trade_date", validate="1:1"
    )
    joined = zl.merge(ref, on="trade_date", how="left", suffixes=("_sql", "_ref"))
    assert len(joined) == len(technical)
    rows = joined["session_number"] >= WARMUP_SESSIONS
    _assert_same(
        joined.loc[rows, ["trade_date"]],
        joined.loc[rows, f"{column}_sql"],
        joined.loc[rows, f"{column}_ref"],
        f"zl_daily_v1 {column}",
    )


@pytest.mark.parametrize("column", CROSS_ASSET_COLUMNS)
def test_cross_asset_matches_asof_reference(
    tables: dict[str, pd.DataFrame], reference_cross: pd.DataFrame, column: str
) -> None:
    """Cross-asset features equal a merge_asof reference on every ZL date, warm-up too."""
    joined = tables["cross"].merge(
        reference_cross, on="trade_date", how="outer", suffixes=("_sql", "_ref"), indicator=True
    )
    assert (joined["_merge"] == "both").all(), "cross_asset_daily rows are not ZL's dates"
    joined = joined.sort_values("trade_date").reset_index(drop=True)
    _assert_same(joined[["trade_date"]], joined[f"{column}_sql"], joined[f"{column}_ref"], column)


def _assert_ema_columns_equal_recursion(ema: pd.DataFrame, bars: pd.DataFrame, what: str) -> None:
    """Every EMA column of one symbol's ``features.ema`` rows against an explicit loop."""
    ema = ema.sort_values("trade_date")
    np.testing.assert_array_equal(ema["trade_date"].to_numpy(), bars["trade_date"].to_numpy())
    assert ema["session_number"].tolist() == list(range(len(bars))), what
    for column, (alpha, values) in ema_input_series(bars).items():
        sql = ema[column].to_numpy(dtype=float)
        assert np.isnan(sql[: len(sql) - len(values)]).all(), f"{what} {column}: before its seed"
        np.testing.assert_allclose(
            sql[len(sql) - len(values) :],
            recursive_ema(values, alpha),
            rtol=1e-12,
            # Where an EMA crosses zero (a negative price) only the price scale means anything.
            atol=1e-13 * np.abs(values).max(),
            err_msg=f"{what} {column}: closed-form EMA vs recursion",
        )


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_closed_form_ema_equals_recursion_on_every_row(
    tables: dict[str, pd.DataFrame], symbol: str
) -> None:
    """features.ema equals E_0 = x_0, E_t = a x_t + (1-a) E_(t-1) from the first row on.

    Not only after warm-up: the closed form is exact algebra, so it must agree from the
    seed onwards. The recursion is an explicit Python loop over staging's prices.
    """
    futures = tables["futures"]
    bars = futures[futures["symbol"] == symbol].sort_values("trade_date")
    ema = tables["ema"]
    _assert_ema_columns_equal_recursion(ema[ema["symbol"] == symbol], bars, symbol)


def test_closed_form_ema_carries_across_many_blocks() -> None:
    """Carries across blocks (16 rows) and superblocks (2,048 rows), and without any.

    9,500 rows (four full superblocks and a partial one) of a random walk with jumps, a
    flat stretch and a negative-price dip; 700 rows (carries between blocks only); exactly
    one superblock and exactly one block (a last carry with no block to go to); and fewer
    rows than one block (no carry at all).
    """
    rng = np.random.default_rng(11)
    steps = rng.normal(0, 0.4, 9_500) + np.where(rng.random(9_500) < 0.002, 15.0, 0.0)
    close = 60 + np.cumsum(steps)
    close[3_000:3_300] = close[2_999]
    close[6_000:6_040] -= close[6_000:6_040].max() + 5  # below zero, as CL in April 2020
    frames = []
    cases = (
        ("LONG", close),
        ("SHORT", close[:700] + 3),
        ("SUPER", close[:2_048] + 1),
        ("BLOCK", close[:16] + 2),
        ("TINY", close[:5] + 4),
    )
    for symbol, prices in cases:
        n = len(prices)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "trade_date": pd.date_range("1990-01-01", periods=n, freq="D"),
                    "session_number": np.arange(n),
                    "adj_close": prices,
                    "adj_high": prices + rng.uniform(0, 1, n),
                    "adj_low": prices - rng.uniform(0, 1, n),
                    "adj_log_return": 0.0,
                    "volume": 1_000,
                }
            )
        )
    staging = pd.concat(frames, ignore_index=True)
    datasets = {"staging": "staging", "features": "features"}
    with DuckDBWarehouse(":memory:", datasets, threads=1) as warehouse:
        warehouse.con.register("bars", staging)
        warehouse.con.execute("CREATE TABLE staging.futures_daily AS SELECT * FROM bars")
        info = warehouse.deploy(read_sql_object(ROOT / "sql" / "features" / "ema.sql"))
        assert (info.kind, info.rows) == ("view", None)
        ema = _frame(warehouse, "SELECT * FROM ${features}.ema")
    for symbol, bars in staging.groupby("symbol"):
        _assert_ema_columns_equal_recursion(ema[ema["symbol"] == symbol], bars, str(symbol))


def _partial_fraction_coefficients(alpha_a: float, alpha_b: float) -> tuple[float, float]:
    """(k_ab, k_ba) with EMA_a(EMA_b(x)) = k_ab EMA_a(x) + k_ba EMA_b(x), b = 1 - alpha."""
    b_a, b_b = 1 - alpha_a, 1 - alpha_b
    return (1 - b_b) * b_a / (b_a - b_b), (1 - b_a) * b_b / (b_b - b_a)


@pytest.mark.parametrize(("outer", "inner"), [(9, 12), (9, 26), (12, 26), (200, 9)])
def test_nested_ema_partial_fractions(outer: int, inner: int) -> None:
    """An EMA of an EMA is a fixed blend of two EMAs of the input, seed included."""
    rng = np.random.default_rng(20240601)
    x = 50 + np.cumsum(rng.normal(0, 0.5, 3000))
    a_outer, a_inner = 2 / (outer + 1), 2 / (inner + 1)
    k_oi, k_io = _partial_fraction_coefficients(a_outer, a_inner)
    nested = recursive_ema(recursive_ema(x, a_inner), a_outer)
    blended = k_oi * recursive_ema(x, a_outer) + k_io * recursive_ema(x, a_inner)
    np.testing.assert_allclose(blended, nested, rtol=1e-12, atol=0)


def test_macd_signal_identity() -> None:
    """The SQL's MACD signal: EMA_9(EMA_12 - EMA_26) from EMA_9, EMA_12, EMA_26 of price."""
    rng = np.random.default_rng(7)
    x = 50 + np.cumsum(rng.normal(0, 0.5, 3000))

    def ema(values: np.ndarray, span: int) -> np.ndarray:
        return recursive_ema(values, 2 / (span + 1))

    signal = ema(ema(x, 12) - ema(x, 26), 9)
    k_9_12, k_12_9 = _partial_fraction_coefficients(2 / 10, 2 / 13)
    k_9_26, k_26_9 = _partial_fraction_coefficients(2 / 10, 2 / 27)
    closed = k_9_12 * ema(x, 9) + k_12_9 * ema(x, 12) - k_9_26 * ema(x, 9) - k_26_9 * ema(x, 26)
    # The signal is ~1e-1 while the terms are ~50: compare on the price scale.
    np.testing.assert_allclose(closed, signal, rtol=0, atol=1e-12 * np.abs(x).max())
