"""Reject bad raw data before it reaches the warehouse, naming source, file and rows.

One pandera schema per raw table (``sample.TABLE_SCHEMAS``): exact column types (the
warehouse merge compares them), non-null unique natural keys (``sample.TABLE_KEYS``),
naive midnight dates in a sane range and plausible values. Real oddities that staging
handles on purpose pass through explicit, documented exemptions instead of looser
bounds: CL's negative settlement (allow-list by symbol and date) and Yahoo settlements
outside the electronic high/low (per-source exemption).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Final

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from zlflow.errors import SourceError
from zlflow.sources.sample import TABLE_KEYS, TABLE_SCHEMAS

# label_kind values staging/futures_daily.sql maps to trade dates; any other is dropped there.
LABEL_KINDS: Final = ("trade_date", "session_open_sao_paulo")
# (symbol, trade date) -> why a non-positive price is real.
NONPOSITIVE_ALLOWED: Final[Mapping[tuple[str, str], str]] = {
    ("CL", "2020-04-20"): "WTI May-20 contract settled at -37.63 before expiry",
    ("CL", "2020-04-21"): "negative open and low the session after the negative settlement",
}
# Sources whose open/close may lie outside the bar's high/low (staging widens the range):
# Yahoo's settlement price is not bounded by its electronic-session high/low.
OUTSIDE_RANGE_SOURCES: Final = frozenset({"yahoo"})
PRICE_REL_TOL: Final = 1e-6  # float32 artifacts such as 28.479999 vs 28.48
EARLIEST_DATE: Final = pd.Timestamp("1900-01-01")
FUTURE_SLACK: Final = timedelta(days=2)  # labels of tonight's session may be dated tomorrow
MAX_ROWS_SHOWN: Final = 10

_DATE_COLUMNS: Final[Mapping[str, str]] = {
    "raw_futures_daily": "bar_label",
    "raw_fred": "obs_date",
    "raw_cot": "report_date",
    "raw_weather": "obs_date",
}


def date_column(table: str) -> str:
    """The column that dates a row of ``table`` (what ingest ranges refer to)."""
    _check_table(table)
    return _DATE_COLUMNS[table]


def _check_table(table: str) -> None:
    if table not in TABLE_SCHEMAS:
        raise SourceError(f"unknown raw table {table!r}; expected one of {sorted(TABLE_SCHEMAS)}")


def cast_to_table(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Columns of ``table`` in schema order and types, sorted by its key (for connectors)."""
    _check_table(table)
    schema, key = TABLE_SCHEMAS[table], list(TABLE_KEYS[table])
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise SourceError(f"{table}: frame lacks column(s) {missing}")
    out = frame[list(schema)].astype(dict(schema))
    return out.sort_values(key, kind="mergesort").reset_index(drop=True)


# --- checks ------------------------------------------------------------------------


def _midnight(s: pd.Series) -> pd.Series:
    return s == s.dt.normalize()


def _sane_dates(column: str) -> list[pa.Check]:
    latest = pd.Timestamp(date.today() + FUTURE_SLACK)
    return [
        pa.Check(lambda s: s >= EARLIEST_DATE, error=f"{column} before {EARLIEST_DATE:%Y-%m-%d}"),
        pa.Check(lambda s: s <= latest, error=f"{column} in the future (after {latest:%Y-%m-%d})"),
    ]


def _date_column(column: str, midnight: bool = True) -> pa.Column:
    checks = _sane_dates(column)
    if midnight:
        checks.append(pa.Check(_midnight, error=f"{column} must be a date (midnight)"))
    return pa.Column(nullable=False, checks=checks)


def _text(pattern: str | None = None) -> pa.Column:
    if pattern is None:  # vectorised in Arrow; a regex per row is slow at millions of rows
        check = pa.Check(lambda s: s.str.strip().str.len() > 0, error="must not be blank")
    else:
        check = pa.Check.str_matches(pattern, error=f"must match {pattern!r}")
    return pa.Column(nullable=False, checks=[check])


def _finite_or_missing(name: str) -> pa.Check:
    return pa.Check(lambda s: ~np.isinf(s), error=f"{name} must be finite or missing (not inf)")


def _between(lo: float, hi: float, name: str, nullable: bool = True) -> pa.Column:
    check = pa.Check.in_range(lo, hi, error=f"{name} outside [{lo}, {hi}]")
    return pa.Column(nullable=nullable, checks=[check])


def _positive_prices(frame: pd.DataFrame) -> pd.Series:
    ok = (frame[["open", "high", "low", "close"]] > 0).all(axis=1)
    suspect = frame.loc[~ok]
    days = suspect["bar_label"].dt.strftime("%Y-%m-%d")
    allowed = [
        (symbol, day) in NONPOSITIVE_ALLOWED
        for symbol, day in zip(suspect["symbol"], days, strict=True)
    ]
    ok.loc[suspect.index[allowed]] = True
    return ok


def _tol(values: pd.Series) -> pd.Series:
    return PRICE_REL_TOL * values.abs() + 1e-9


def _high_above_low(frame: pd.DataFrame) -> pd.Series:
    return frame["high"] + _tol(frame["high"]) >= frame["low"]


def _high_covers_open_close(frame: pd.DataFrame) -> pd.Series:
    top = frame[["open", "close"]].max(axis=1)
    return (frame["high"] + _tol(top) >= top) | frame["source"].isin(OUTSIDE_RANGE_SOURCES)


def _low_covers_open_close(frame: pd.DataFrame) -> pd.Series:
    bottom = frame[["open", "close"]].min(axis=1)
    return (frame["low"] - _tol(bottom) <= bottom) | frame["source"].isin(OUTSIDE_RANGE_SOURCES)


def _trade_dates_at_midnight(frame: pd.DataFrame) -> pd.Series:
    return (frame["label_kind"] != "trade_date") | _midnight(frame["bar_label"])


def _futures_schema() -> pa.DataFrameSchema:
    price = pa.Column(nullable=False, checks=[_finite_or_missing("price")])
    return pa.DataFrameSchema(
        {
            "symbol": _text(),
            "source": _text(),
            "label_kind": pa.Column(
                nullable=False,
                checks=[pa.Check.isin(LABEL_KINDS, error=f"label_kind not in {LABEL_KINDS}")],
            ),
            "bar_label": _date_column("bar_label", midnight=False),
            "open": price,
            "high": price,
            "low": price,
            "close": price,
            "volume": pa.Column(
                nullable=True,
                checks=[
                    pa.Check.ge(0, error="volume must be >= 0"),
                    _finite_or_missing("volume"),
                ],
            ),
            "source_file": _text(),
            "source_row": pa.Column(
                nullable=False, checks=[pa.Check.ge(0, error="source_row must be >= 0")]
            ),
        },
        checks=[
            pa.Check(
                _positive_prices,
                error="prices must be > 0 (allow-listed exceptions: "
                + ", ".join(f"{s} {d}" for s, d in NONPOSITIVE_ALLOWED)
                + ")",
            ),
            pa.Check(_high_above_low, error="high must be >= low"),
            pa.Check(
                _high_covers_open_close,
                error="high must be >= max(open, close) (exempt sources: "
                + ", ".join(sorted(OUTSIDE_RANGE_SOURCES))
                + ")",
            ),
            pa.Check(
                _low_covers_open_close,
                error="low must be <= min(open, close) (exempt sources: "
                + ", ".join(sorted(OUTSIDE_RANGE_SOURCES))
                + ")",
            ),
            pa.Check(_trade_dates_at_midnight, error="trade_date labels must be midnight"),
        ],
    )


def _fred_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "series_id": _text(r"^[A-Za-z0-9_]+$"),
            "obs_date": _date_column("obs_date"),
            "value": pa.Column(nullable=True, checks=[_finite_or_missing("value")]),
            "source_file": _text(),
        }
    )


def _cot_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "report_date": _date_column("report_date"),
            "symbol": _text(),
            "noncomm_net_pct": _between(-100.0, 100.0, "noncomm_net_pct", nullable=False),
        }
    )


def _weather_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "station_id": _text(),
            "region": _text(),
            "obs_date": _date_column("obs_date"),
            # Raw GHCN has tmax < tmin on some station-days: kept, staging decides.
            "tmax_c": _between(-90.0, 60.0, "tmax_c"),
            "tmin_c": _between(-90.0, 60.0, "tmin_c"),
            "prcp_mm": _between(0.0, 2000.0, "prcp_mm"),
            "source_file": _text(),
        }
    )


_SCHEMAS: Final[Mapping[str, Callable[[], pa.DataFrameSchema]]] = {
    "raw_futures_daily": _futures_schema,
    "raw_fred": _fred_schema,
    "raw_cot": _cot_schema,
    "raw_weather": _weather_schema,
}


def raw_schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of one raw table, unique on its natural key."""
    _check_table(table)
    schema = _SCHEMAS[table]()
    return pa.DataFrameSchema(
        schema.columns,
        checks=schema.checks,
        strict=True,
        unique=list(TABLE_KEYS[table]),
        report_duplicates="all",
    )


# --- entry point -------------------------------------------------------------------


def _dtype_ok(series: pd.Series, expected: str) -> bool:
    dtype = series.dtype
    if expected == "str":
        if isinstance(dtype, pd.StringDtype):
            return True
        return dtype is np.dtype(object) and bool(series.map(type).eq(str).all())
    return str(dtype) == expected


def _check_structure(table: str, frame: pd.DataFrame, where: str) -> None:
    schema = TABLE_SCHEMAS[table]
    found = [str(c) for c in frame.columns]
    missing = [c for c in schema if c not in found]
    unexpected = [c for c in found if c not in schema]
    if missing or unexpected:
        raise SourceError(
            f"{where}: columns do not match {table}: missing {missing}, unexpected {unexpected}"
        )
    wrong = {c: str(frame[c].dtype) for c, t in schema.items() if not _dtype_ok(frame[c], t)}
    if wrong:
        expected = {c: schema[c] for c in wrong}
        tz = [c for c in wrong if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
        hint = f" (timestamps must be naive: convert {tz} with tz_convert(None))" if tz else ""
        raise SourceError(
            f"{where}: wrong column types for {table}: found {wrong}, expected {expected}{hint}"
        )


def _problem(table: str, context: str, column: object, check: object) -> str:
    if check == "multiple_fields_uniqueness":
        return f"duplicate natural key {list(TABLE_KEYS[table])}"
    if context == "Column":
        return f"{column}: {check}"
    return str(check)


def _describe(table: str, frame: pd.DataFrame, cases: pd.DataFrame, where: str) -> str:
    cases = cases.assign(
        problem=[
            _problem(table, ctx, col, check)
            for ctx, col, check in zip(
                cases["schema_context"], cases["column"], cases["check"], strict=True
            )
        ]
    )
    cases = cases.dropna(subset=["index"]).drop_duplicates(["index", "problem"])
    problems = cases.groupby("index")["problem"].agg(lambda p: "; ".join(sorted(p)))
    summary = cases.groupby("problem").size().sort_index()
    lines = [f"{where}: {len(problems)} bad row(s), nothing loaded into {table}:"]
    lines += [f"  - {name}: {n} row(s)" for name, n in summary.items()]
    shown = problems.index[:MAX_ROWS_SHOWN].astype("int64")
    more = len(problems) - len(shown)
    lines.append(
        f"first {len(shown)} offending row(s) (row = position in the frame)"
        + (f"; {more} more not shown" if more else "")
        + ":"
    )
    rows = frame.iloc[shown]
    rows.insert(0, "problem", problems.iloc[:MAX_ROWS_SHOWN].to_numpy())
    lines.append(rows.to_string())
    return "\n".join(lines)


def validate_raw(table: str, frame: pd.DataFrame, source: str, file: str) -> pd.DataFrame:
    """Return ``frame`` if it is a valid ``table`` frame, else raise SourceError.

    The message names ``source`` and ``file`` (where the rows came from), counts each
    failed check and shows up to 10 offending rows, so a user can find them upstream.
    """
    _check_table(table)
    where = f"source {source!r}, file {file}"
    _check_structure(table, frame, where)
    checked = frame.reset_index(drop=True)
    try:
        raw_schema(table).validate(checked, lazy=True)
    except SchemaErrors as err:
        raise SourceError(_describe(table, checked, err.failure_cases, where)) from None
    except SchemaError as err:  # a non-lazy failure (should not happen with lazy=True)
        raise SourceError(f"{where}: {table} failed validation: {err}") from None
    return frame
