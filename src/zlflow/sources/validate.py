"""The one gate every load path passes: bad raw data never reaches the warehouse.

One pandera schema per raw table (``tables.TABLE_SCHEMAS``): exact column types (the
warehouse merge compares them), non-null unique natural keys (``tables.TABLE_KEYS``),
naive midnight dates in a sane range and plausible values; for futures also checks
against neighbouring bars (a unit jump, a gap longer than the exchange calendar allows).
Every problem in a file is collected and reported in one error (capped), each naming
file, row (and line), column, value and rule, so one run shows everything to fix.

Real oddities pass through explicit, documented exemptions instead of looser bounds:
CL's negative settlement (allow-listed by symbol and date), and the one repair, widening
a bar's high/low to its open and close, only for sources known to need it (Yahoo's
settlement is not bounded by its electronic high/low) or that opt in; repairs are counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Final

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from zlflow.errors import SourceError
from zlflow.sources.tables import DATE_COLUMNS, TABLE_KEYS, TABLE_SCHEMAS

# label_kind values staging/futures_daily.sql maps to trade dates; any other is dropped there.
LABEL_KINDS: Final = ("trade_date", "session_open_sao_paulo")
# (symbol, trade date) -> why a non-positive price is real.
NONPOSITIVE_ALLOWED: Final[Mapping[tuple[str, str], str]] = {
    ("CL", "2020-04-20"): "WTI May-20 contract settled at -37.63 before expiry",
    ("CL", "2020-04-21"): "negative open and low the session after the negative settlement",
}
# The one repair: widen a bar's high/low to its open and close (staging does it, and flags
# the row range_widened). Only sources known to need it get it unasked: Yahoo's settlement
# is not bounded by its electronic-session high/low. A user file opts in with
# `repair: [widen_range]`; every other source's inconsistent bar is refused.
WIDEN_RANGE: Final = "widen_range"
REPAIRS: Final = (WIDEN_RANGE,)
OUTSIDE_RANGE_SOURCES: Final = frozenset({"yahoo"})
# Neighbour checks on futures bars. The largest close-to-close move in the bundled sample
# is x1.38 (CL, 2020) and the longest gap 9 sessions (ZC, 2000s); a unit change (cents vs
# dollars, x100) or a missing month (about 21 sessions) is far outside both.
MAX_JUMP_RATIO: Final = 3.0
MAX_GAP_SESSIONS: Final = 10
DEFAULT_EXCHANGE: Final = "CBOT_Agriculture"
MAX_PROBLEMS_SHOWN: Final = 20
ROWS_PER_PROBLEM: Final = 5
PRICE_REL_TOL: Final = 1e-6  # float32 artifacts such as 28.479999 vs 28.48
EARLIEST_DATE: Final = pd.Timestamp("1900-01-01")
FUTURE_SLACK: Final = timedelta(days=2)  # labels of tonight's session may be dated tomorrow
MAX_ROWS_SHOWN: Final = 10


def date_column(table: str) -> str:
    """The column that dates a row of ``table`` (what ingest ranges refer to)."""
    _check_table(table)
    return DATE_COLUMNS[table]


class Problems:
    """Every problem found in one file (or fetched frame), reported together.

    Rows are 0-based data rows, as in ``source_row``; for text files also the 1-based line
    (``header_lines`` before the first data row), so a user can jump there in an editor.
    """

    def __init__(
        self, origin: object, header_lines: int | None = None, fix: str | None = None
    ) -> None:
        self.origin = str(origin)
        self.header_lines = header_lines
        self.fix = fix
        self.messages: list[str] = []
        self.bad_rows: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self.messages)

    def where(self, row: int) -> str:
        if self.header_lines is None:
            return f"row {row}"
        return f"row {row} (line {row + self.header_lines + 1})"

    def add(self, message: str) -> None:
        self.messages.append(f"{self.origin}: {message}")

    def add_rows(
        self, what: str, rows: Sequence[int], values: Sequence[object], formatted: bool = False
    ) -> None:
        """One problem at some rows: ``what`` names the column and rule, values are shown
        (``formatted``: already text such as ``high=1.0, low=2.0``)."""
        if not len(rows):
            return
        rows = [int(r) for r in rows]
        self.bad_rows.update(rows)
        parts = [
            f"{self.where(row)}: {value if formatted else _shown(value)}"
            for row, value in zip(rows[:ROWS_PER_PROBLEM], values[:ROWS_PER_PROBLEM], strict=False)
        ]
        more = ""
        if len(rows) > ROWS_PER_PROBLEM:
            more = f"; and {len(rows) - ROWS_PER_PROBLEM} more ({len(rows)} rows in all)"
        self.add(f"{what} at " + "; ".join(parts) + more)

    def error(self, table: str) -> SourceError:
        shown = self.messages[:MAX_PROBLEMS_SHOWN]
        more = len(self.messages) - len(shown)
        fix = self.fix or (
            "fix the data and run again (`python -m zlflow.validate FILE --table "
            f"{table}` checks a file without loading it)"
        )
        lines = [
            f"{self.origin}: {len(self.messages)} problem(s), nothing loaded into {table}; {fix}"
        ]
        lines += [f"  - {m}" for m in shown]
        if more:
            lines.append(f"  ... and {more} more problem(s)")
        return SourceError("\n".join(lines))

    def raise_if_any(self, table: str) -> None:
        if self.messages:
            raise self.error(table)


def _shown(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return repr(str(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return repr(float(value))
    return repr(value.item() if isinstance(value, np.generic) else value)


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


def _high_covers(frame: pd.DataFrame) -> pd.Series:
    top = frame[["open", "close"]].max(axis=1)
    return frame["high"] + _tol(top) >= top


def _low_covers(frame: pd.DataFrame) -> pd.Series:
    bottom = frame[["open", "close"]].min(axis=1)
    return frame["low"] - _tol(bottom) <= bottom


def _covers_open_close(frame: pd.DataFrame) -> pd.Series:
    return _high_covers(frame) & _low_covers(frame)


def _trade_dates_at_midnight(frame: pd.DataFrame) -> pd.Series:
    return (frame["label_kind"] != "trade_date") | _midnight(frame["bar_label"])


def _futures_schema(widen: frozenset[str] = OUTSIDE_RANGE_SOURCES) -> pa.DataFrameSchema:
    price = pa.Column(nullable=False, checks=[_finite_or_missing("price")])
    exempt = ", ".join(sorted(widen)) or "none"
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
            "source_row": _lineage_row(),
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
                lambda f: _high_covers(f) | f["source"].isin(widen),
                error=f"high must be >= max(open, close) (sources repaired by {WIDEN_RANGE}: "
                f"{exempt})",
            ),
            pa.Check(
                lambda f: _low_covers(f) | f["source"].isin(widen),
                error=f"low must be <= min(open, close) (sources repaired by {WIDEN_RANGE}: "
                f"{exempt})",
            ),
            pa.Check(_trade_dates_at_midnight, error="trade_date labels must be midnight"),
        ],
    )


def _lineage_row() -> pa.Column:
    """The row of the file (or response) a raw row came from: assertions name it."""
    return pa.Column(nullable=False, checks=[pa.Check.ge(0, error="source_row must be >= 0")])


def _fred_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "series_id": _text(r"^[A-Za-z0-9_]+$"),
            "obs_date": _date_column("obs_date"),
            "value": pa.Column(nullable=True, checks=[_finite_or_missing("value")]),
            "source_file": _text(),
            "source_row": _lineage_row(),
        }
    )


def _cot_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "report_date": _date_column("report_date"),
            "symbol": _text(),
            "noncomm_net_pct": _between(-100.0, 100.0, "noncomm_net_pct", nullable=False),
            "source_file": _text(),
            "source_row": _lineage_row(),
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
            "source_row": _lineage_row(),
        }
    )


_SCHEMAS: Final[Mapping[str, Callable[[], pa.DataFrameSchema]]] = {
    "raw_futures_daily": _futures_schema,
    "raw_fred": _fred_schema,
    "raw_cot": _cot_schema,
    "raw_weather": _weather_schema,
}


def raw_schema(table: str, widen: frozenset[str] = OUTSIDE_RANGE_SOURCES) -> pa.DataFrameSchema:
    """The pandera schema of one raw table, unique on its natural key."""
    _check_table(table)
    schema = _futures_schema(widen) if table == "raw_futures_daily" else _SCHEMAS[table]()
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


_MISSING_CHECKS: Final = {"not_nullable": "missing value"}
# Columns shown for a row that fails a whole-row check, per table.
_ROW_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "raw_futures_daily": ("bar_label", "open", "high", "low", "close"),
    "raw_fred": ("series_id", "obs_date", "value"),
    "raw_cot": ("report_date", "symbol", "noncomm_net_pct"),
    "raw_weather": ("station_id", "obs_date", "tmax_c", "tmin_c", "prcp_mm"),
}


def _row_values(table: str, frame: pd.DataFrame, row: object) -> str:
    values = frame.loc[row, [c for c in _ROW_COLUMNS[table] if c in frame.columns]]
    return ", ".join(f"{c}={_shown(v)}" for c, v in values.items())


def check_rows(
    table: str,
    frame: pd.DataFrame,
    problems: Problems,
    widen: frozenset[str] = OUTSIDE_RANGE_SOURCES,
    unique: bool = True,
) -> None:
    """Add each row that breaks the table's schema to ``problems`` (index = data row).

    Rows already reported (an unparseable cell) are skipped: one cause, one message.
    """
    checked = frame.drop(index=[r for r in problems.bad_rows if r in frame.index])
    if checked.empty:
        return
    schema = raw_schema(table, widen)
    if not unique:  # a reader checks keys itself, naming the lines of both rows
        schema = pa.DataFrameSchema(schema.columns, checks=schema.checks, strict=False)
    try:
        schema.validate(checked, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases.dropna(subset=["index"])
        column_level = cases[cases["schema_context"] == "Column"]
        failed_columns = set(column_level["index"])
        for (column, check), group in column_level.groupby(["column", "check"], sort=False):
            rule = _MISSING_CHECKS.get(str(check), str(check))
            problems.add_rows(
                f"{column}: {rule}", group["index"].tolist(), group["failure_case"].tolist()
            )
        frame_level = cases[cases["schema_context"] != "Column"].sort_values(
            "check_number", kind="mergesort"
        )
        reported = set(failed_columns)  # a row's first failed check only: one cause, one line
        for check, group in frame_level.groupby("check", sort=False):
            rows = [r for r in dict.fromkeys(group["index"]) if r not in reported]
            reported.update(rows)
            if check == "multiple_fields_uniqueness":
                rule = f"duplicate natural key {list(TABLE_KEYS[table])}"
            else:
                rule = str(check)
            values = [_row_values(table, checked, r) for r in rows]
            problems.add_rows(rule, rows, values, formatted=True)
    except SchemaError as err:  # a non-lazy failure (should not happen with lazy=True)
        problems.add(f"{table} failed validation: {err}")


@lru_cache(maxsize=8)
def _sessions(exchange: str, start: str, end: str) -> pd.DatetimeIndex:
    from zlflow.calendar import trading_days  # the calendar import costs 0.3 s: only here

    return trading_days(exchange, start, end)


def check_neighbours(
    frame: pd.DataFrame,
    problems: Problems,
    exchange: str = DEFAULT_EXCHANGE,
    exchanges: Mapping[str, str] | None = None,
) -> None:
    """Futures bars against their neighbours: a unit jump or a gap beyond the calendar
    of the symbol's exchange (``exchanges``, else ``exchange``)."""
    prices = frame.drop(index=[r for r in problems.bad_rows if r in frame.index])
    prices = prices.dropna(subset=["bar_label", "close"])
    if prices.empty:
        return
    shifted = prices["bar_label"].where(
        prices["label_kind"] != "session_open_sao_paulo",
        prices["bar_label"] + pd.Timedelta(hours=6),
    )
    days = shifted.dt.normalize()
    start = (days.min() - pd.Timedelta(days=10)).strftime("%Y-%m-%d")
    end = (days.max() + pd.Timedelta(days=10)).strftime("%Y-%m-%d")
    prices = prices.assign(_day=days)
    jumps: list[tuple[int, str]] = []
    gaps: dict[str, list[tuple[int, str]]] = {}
    mixed: list[tuple[int, str]] = []
    for symbol, bars in prices.sort_values(["symbol", "bar_label"], kind="mergesort").groupby(
        "symbol", sort=False
    ):
        calendar = (exchanges or {}).get(str(symbol), exchange)
        sessions = _sessions(calendar, start, end).searchsorted(bars["_day"].to_numpy())
        close = bars["close"].to_numpy()
        previous = np.roll(close, 1)
        ok = (close > 0) & (previous > 0)
        ok[0] = False
        ratio = np.where(ok, close / np.where(previous > 0, previous, 1.0), 1.0)
        for i in np.flatnonzero((ratio > MAX_JUMP_RATIO) | (ratio < 1 / MAX_JUMP_RATIO)):
            jumps.append(
                (bars.index[i], f"close {close[i]:g} after {previous[i]:g} (x{ratio[i]:.3g})")
            )
        missing = np.diff(sessions) - 1
        for i in np.flatnonzero(missing > MAX_GAP_SESSIONS):
            before, after = bars["bar_label"].iloc[i], bars["bar_label"].iloc[i + 1]
            gaps.setdefault(calendar, []).append(
                (
                    bars.index[i + 1],
                    f"{missing[i]} sessions missing after {before:%Y-%m-%d}"
                    f" (this bar {after:%Y-%m-%d})",
                )
            )
        for column in ("open", "high", "low"):
            other = bars[column].to_numpy()
            both = (other > 0) & (close > 0)
            far = np.where(both, other / np.where(close > 0, close, 1.0), 1.0)
            for i in np.flatnonzero((far > MAX_JUMP_RATIO) | (far < 1 / MAX_JUMP_RATIO)):
                mixed.append((bars.index[i], f"{column}={other[i]:g}, close={close[i]:g}"))
    for rule, found in (
        (
            f"close jumps more than x{MAX_JUMP_RATIO:g} against the previous bar (a unit change?)",
            jumps,
        ),
        *(
            (f"gap of more than {MAX_GAP_SESSIONS} exchange sessions ({name}) between bars", g)
            for name, g in sorted(gaps.items())
        ),
        (
            f"price more than x{MAX_JUMP_RATIO:g} away from the same bar's close (a unit mix-up?)",
            mixed,
        ),
    ):
        found.sort()
        problems.add_rows(rule, [r for r, _ in found], [v for _, v in found], formatted=True)


def widened_rows(frame: pd.DataFrame, widen: Iterable[str]) -> int:
    """How many bars the widen_range repair changes (staging flags them range_widened)."""
    if frame.empty:
        return 0
    repaired = frame["source"].isin(frozenset(widen)) & ~_covers_open_close(frame)
    return int(repaired.sum())


def validate_raw(
    table: str,
    frame: pd.DataFrame,
    source: str,
    file: str,
    widen: frozenset[str] = OUTSIDE_RANGE_SOURCES,
    exchange: str = DEFAULT_EXCHANGE,
    exchanges: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return ``frame`` if it is a valid ``table`` frame, else raise SourceError.

    The message names ``source`` and ``file`` (where the rows came from) and every
    problem with its rows (row = position in the frame) and values, capped. Gaps are
    measured in sessions of each symbol's exchange calendar (``exchanges``, config
    ``calendar.exchanges``), else of ``exchange``.
    """
    _check_table(table)
    where = f"source {source!r}, file {file}"
    _check_structure(table, frame, where)
    fixes = (
        "fix the file and run again"
        if source in ("sample", "files")
        else ("the source sent bad rows: run again later, or report them to the source")
    )
    problems = Problems(where, fix=fixes)
    checked = frame.reset_index(drop=True)
    check_rows(table, checked, problems, widen)
    if table == "raw_futures_daily":
        check_neighbours(checked, problems, exchange, exchanges)
    problems.raise_if_any(table)
    return frame
