"""Readers for the bundled sample data in ``data/sample/`` (see its PROVENANCE.md).

Each reader returns exactly the columns of one raw warehouse table (dataset
``market_data``), sorted by the table key, with values as the file gives them.
Trade-date mapping, roll handling and plausibility checks belong to staging SQL and
assertions, where they are visible and tested; a reader only rejects input it cannot
represent faithfully (missing file or column, unparseable date or number, duplicate
key) by raising :class:`~zlflow.errors.SourceError` naming the file and the rows.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd

from zlflow.errors import SourceError
from zlflow.sources import tables
from zlflow.sources.tables import TABLE_KEYS, TABLE_SCHEMAS
from zlflow.sources.validate import (
    DEFAULT_EXCHANGE,
    OUTSIDE_RANGE_SOURCES,
    Problems,
    check_neighbours,
    check_rows,
)

# The table schemas live in tables.py; kept here for the callers that import them from here.
FUTURES_SCHEMA: Final = tables.FUTURES_SCHEMA
FRED_SCHEMA: Final = tables.FRED_SCHEMA
COT_SCHEMA: Final = tables.COT_SCHEMA
WEATHER_SCHEMA: Final = tables.WEATHER_SCHEMA

MILWAUKEE_STATION: Final = "USW00014839"
MILWAUKEE_REGION: Final = "wisconsin"
COT_SYMBOLS: Final = ("ZL", "ZM", "ZS")

_OHLCV: Final = ("open", "high", "low", "close", "volume")
_MAX_SHOWN: Final = 5
_FRED_FILE_NAME: Final = re.compile(r"fred_([A-Z0-9]+)(?:_[^/\\]*)?\.csv")
_GHCN_STATION: Final = re.compile(r"[A-Z0-9]{11}")


# --- the registry of bundled files ------------------------------------------------

ReaderKind = Literal["tradingview", "yahoo", "fred", "cot", "ghcn_dir", "milwaukee"]


@dataclass(frozen=True)
class SampleSource:
    """One bundled file or station directory, and how to read it.

    ``path`` is relative to the sample directory so Snakemake rules can list inputs;
    ``key`` is the symbol (futures) or region (GHCN directories).
    """

    path: str
    reader: ReaderKind
    key: str | None = None


SAMPLE_FILES: Final[Mapping[str, tuple[SampleSource, ...]]] = {
    "raw_futures_daily": (
        SampleSource("zl_daily_tradingview.parquet", "tradingview", "ZL"),
        SampleSource("zs_daily_tradingview.parquet", "tradingview", "ZS"),
        SampleSource("zm_daily_tradingview.parquet", "tradingview", "ZM"),
        SampleSource("es_daily_yahoo.csv", "yahoo", "ES"),
        SampleSource("cl_daily_yahoo.csv", "yahoo", "CL"),
        SampleSource("zc_daily_yahoo.csv", "yahoo", "ZC"),
    ),
    "raw_fred": tuple(
        SampleSource(f"fred_{name}.csv", "fred")
        for name in (
            "CPIAUCSL",
            "DCOILBRENTEU",
            "DCOILWTICO",
            "DEXBZUS_1999-2021",
            "DEXBZUS_2021-2026",
            "DGS10",
            "DGS2",
            "DTWEXBGS",
            "FEDFUNDS",
            "T10YIE",
        )
    ),
    "raw_cot": (SampleSource("cftc_cot_soy_complex_weekly.parquet", "cot"),),
    "raw_weather": (
        SampleSource("weather_iowa_ghcn_corteva", "ghcn_dir", "iowa"),
        SampleSource("weather_illinois_ghcn_corteva", "ghcn_dir", "illinois"),
        SampleSource("weather_milwaukee_daily_ghcn_USW00014839.csv", "milwaukee"),
    ),
}


# --- shared helpers ----------------------------------------------------------------


def _fail(path: Path, message: str) -> SourceError:
    return SourceError(f"{path}: {message}")


def _read_csv_text(
    path: Path, problems: Problems, sep: str = ",", header: int | None = 0
) -> pd.DataFrame:
    """Read all cells as text so the reader, not pandas, decides what 'missing' means.

    Blank lines are kept as rows so reported line numbers match the file. A line with
    fewer fields than the header (cut short) is a problem, never a row with NULLs.
    """
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            sep=sep,
            header=header,
        )
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except pd.errors.EmptyDataError:
        raise _fail(path, "empty file: no header and no rows") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _fail(path, f"cannot read CSV: {exc}") from exc
    with open(path, newline="", encoding="utf-8-sig") as handle:  # pandas pads short lines
        fields = [len(record) for record in csv.reader(handle, delimiter=sep)]
    fields = fields[0 if header is None else header + 1 :]
    short = [row for row, n in enumerate(fields[: len(frame)]) if 0 < n < frame.shape[1]]
    problems.add_rows(
        f"truncated line (fewer fields than the {frame.shape[1]} columns)",
        short,
        [f"{fields[row]} field(s)" for row in short],
        formatted=True,
    )
    return frame.fillna("")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise _fail(path, f"cannot read parquet: {exc}") from exc


def _require_columns(path: Path, found: Iterable[object], required: Iterable[str]) -> None:
    found = list(found)
    missing = [c for c in required if c not in found]
    if missing:
        raise _fail(path, f"missing column(s) {missing}; found {found}")


def _parse_dates(problems: Problems, raw: pd.Series, column: str, fmt: str) -> pd.Series:
    """Dates in ``fmt``; an unparseable one is a problem and NaT here."""
    parsed = pd.to_datetime(raw.str.strip(), format=fmt, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    problems.add_rows(
        f"unparseable date in column {column!r} (expected {fmt})",
        bad.tolist(),
        raw.iloc[bad].tolist(),
    )
    return parsed.astype("datetime64[us]").reset_index(drop=True)


def _parse_numbers(
    problems: Problems, raw: pd.Series, column: str, missing: frozenset[str]
) -> pd.Series:
    """Parse numbers, mapping only the source's documented missing tokens to NaN.

    Anything else that is not a finite number (text, 'nan', 'inf') is a problem, so a
    dialect mix-up (e.g. '.' in a file whose missing token is '') cannot pass silently.
    """
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype("float64").reset_index(drop=True)
    text = raw.astype(str).str.strip()
    is_missing = text.isin(missing).to_numpy()
    values = pd.to_numeric(text.where(~is_missing), errors="coerce").astype("float64")
    bad = np.flatnonzero(~np.isfinite(values.to_numpy()) & ~is_missing)
    problems.add_rows(
        f"unparseable number in column {column!r}", bad.tolist(), raw.iloc[bad].tolist()
    )
    return values.reset_index(drop=True)


def _iso(dates: pd.Series) -> pd.Series:
    return dates.dt.strftime("%Y-%m-%d")


def _check_unique(problems: Problems, keys: pd.Series, what: str) -> None:
    dup = np.flatnonzero((keys.duplicated(keep=False) & keys.notna()).to_numpy())
    problems.add_rows(f"duplicate {what}", dup.tolist(), [str(v) for v in keys.iloc[dup]])


def _datetime_index(path: Path, frame: pd.DataFrame, what: str, problems: Problems) -> pd.Series:
    """Return a parquet frame's naive datetime index as a microsecond Series, unchanged."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise _fail(path, f"index must hold {what} timestamps, found dtype {index.dtype}")
    if index.tz is not None:
        raise _fail(
            path, f"index must be naive {what} timestamps (kept as given), found {index.tz}"
        )
    labels = pd.Series(index, dtype=index.dtype).reset_index(drop=True)
    nat = np.flatnonzero(labels.isna().to_numpy())
    problems.add_rows(f"missing {what} (NaT)", nat.tolist(), ["NaT"] * nat.size)
    as_us = labels.astype("datetime64[us]")
    lossy = np.flatnonzero(((as_us != labels) & labels.notna()).to_numpy())
    problems.add_rows(
        f"{what} has sub-microsecond precision",
        lossy.tolist(),
        [str(v) for v in labels.iloc[lossy]],
    )
    _check_unique(problems, as_us, what)
    return as_us


def _gate(
    table: str,
    frame: pd.DataFrame,
    problems: Problems,
    widen: frozenset[str] = OUTSIDE_RANGE_SOURCES,
    check_only: bool = False,
    exchange: str = DEFAULT_EXCHANGE,
) -> None:
    """The validation gate for one file's rows (index = data row): raise with every problem
    (``check_only`` collects them, for a file read in parts); gaps in ``exchange`` sessions."""
    if frame.empty and not problems:
        problems.add(
            "no data rows: an empty file would remove every row of its series; "
            "restore the file or drop its entry"
        )
    check_rows(table, frame, problems, widen, unique=False)
    if table == "raw_futures_daily":
        check_neighbours(frame, problems, exchange)
    if not check_only:
        problems.raise_if_any(table)


def _finish(frame: pd.DataFrame, table: str, origin: object) -> pd.DataFrame:
    """Cast to the table schema, sort by its key and reject keys repeated across files."""
    schema, key = TABLE_SCHEMAS[table], list(TABLE_KEYS[table])
    out = frame[list(schema)].astype(dict(schema))
    out = out.sort_values(key, kind="mergesort").reset_index(drop=True)
    dup = out.duplicated(key, keep=False)
    if dup.any():
        clash = out.loc[dup, [*key, *(["source_file"] if "source_file" in out else [])]]
        raise SourceError(
            f"{origin}: duplicate key {key} in {table}:\n{clash.head(10).to_string()}"
        )
    return out


def futures_frame(
    path: Path,
    symbol: str,
    source: str,
    label_kind: str,
    bar_label: pd.Series,
    prices: Mapping[str, pd.Series],
    problems: Problems,
    widen: frozenset[str] = OUTSIDE_RANGE_SOURCES,
    exchange: str = DEFAULT_EXCHANGE,
) -> pd.DataFrame:
    """One file's bars with their lineage (file, row), through the gate."""
    if not symbol:
        raise _fail(path, "symbol must be a non-empty string")
    frame = pd.DataFrame({"bar_label": bar_label, **prices})
    frame["symbol"] = symbol
    frame["source"] = source
    frame["label_kind"] = label_kind
    frame["source_file"] = path.name
    frame["source_row"] = np.arange(len(frame), dtype="int64")
    _gate("raw_futures_daily", frame, problems, widen, exchange=exchange)
    return _finish(frame, "raw_futures_daily", path)


# --- futures -----------------------------------------------------------------------


def read_tradingview(path: str | Path, symbol: str) -> pd.DataFrame:
    """Read a TradingView daily parquet (index ``datetime``, OHLCV columns).

    Bar labels are session-open times in the downloader's Sao Paulo local time and
    are kept exactly as given: mapping them to CME trade dates needs the exchange
    calendar, which staging SQL applies where it can be audited.
    """
    path = Path(path)
    frame = _read_parquet(path)
    _require_columns(path, frame.columns, _OHLCV)
    problems = Problems(path)
    labels = _datetime_index(path, frame, "bar label", problems)
    prices = {c: _parse_numbers(problems, frame[c], c, frozenset()) for c in _OHLCV}
    return futures_frame(
        path, symbol, "tradingview", "session_open_sao_paulo", labels, prices, problems
    )


def read_yahoo(path: str | Path, symbol: str) -> pd.DataFrame:
    """Read a Yahoo Finance daily CSV, mapping columns by header name.

    These files put Close first (``Date,Close,High,Low,Open,Volume``), so positions
    cannot be trusted. Values are kept as given (float32 artifacts, the negative CL
    settlement of 2020-04-20, closes outside high/low); assertions flag them later.
    """
    path = Path(path)
    problems = Problems(path, header_lines=1)
    raw = _read_csv_text(path, problems)
    names = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}
    _require_columns(path, raw.columns, ["Date", *names.values()])
    dates = _parse_dates(problems, raw["Date"], "Date", "%Y-%m-%d")
    _check_unique(problems, _iso(dates), "date")
    missing = frozenset({"", "null"})
    prices = {c: _parse_numbers(problems, raw[h], h, missing) for c, h in names.items()}
    return futures_frame(path, symbol, "yahoo", "trade_date", dates, prices, problems)


# --- FRED --------------------------------------------------------------------------


def read_fred_csv(path: str | Path, series_id: str | None = None) -> pd.DataFrame:
    """Read one FRED series in any of the three CSV dialects found in the wild.

    - ``date,value``: written by fredapi-based fetchers; empty cell = missing.
    - ``DATE,<SERIES>``: legacy native FRED download; ``.`` = missing.
    - ``observation_date,<SERIES>``: current native FRED download; empty = missing.

    The series id comes from the header for native dialects (``series_id``, if given,
    must agree), else from ``series_id``, else from ``fred_<SERIES>[_<range>].csv``.
    """
    path = Path(path)
    problems = Problems(path, header_lines=1)
    raw = _read_csv_text(path, problems)
    columns = [str(c) for c in raw.columns]
    if len(columns) != 2:
        raise _fail(path, f"expected 2 columns (a date and one series), found {columns}")
    date_col, value_col = columns
    header_series: str | None
    if date_col == "date":
        if value_col != "value":
            raise _fail(
                path, f"missing column 'value' (header {columns}; fetcher dialect is date,value)"
            )
        missing, header_series = frozenset({""}), None
    elif date_col == "DATE":
        missing, header_series = frozenset({"."}), value_col
    elif date_col == "observation_date":
        missing, header_series = frozenset({""}), value_col
    else:
        raise _fail(
            path,
            f"missing date column: header {columns} matches no FRED dialect "
            "('date,value', 'DATE,<SERIES>', 'observation_date,<SERIES>')",
        )

    if header_series is not None:
        if series_id is not None and series_id != header_series:
            raise _fail(path, f"series_id {series_id!r} disagrees with header {header_series!r}")
        resolved = header_series
    elif series_id is not None:
        resolved = series_id
    else:
        match = _FRED_FILE_NAME.fullmatch(path.name)
        if match is None:
            raise _fail(
                path,
                "series id is not in the header, not given, and the file name is not "
                "fred_<SERIES>.csv or fred_<SERIES>_<range>.csv",
            )
        resolved = match.group(1)

    dates = _parse_dates(problems, raw[date_col], date_col, "%Y-%m-%d")
    _check_unique(problems, _iso(dates), "date")
    frame = pd.DataFrame(
        {
            "series_id": resolved,
            "obs_date": dates,
            "value": _parse_numbers(problems, raw[value_col], value_col, missing),
            "source_file": path.name,
            "source_row": np.arange(len(raw), dtype="int64"),
        }
    )
    _gate("raw_fred", frame, problems)
    return _finish(frame, "raw_fred", path)


def read_fred_many(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read several FRED files and merge overlapping observations of the same series.

    Overlaps arise when a series is stitched from downloads of different vintages
    (the two DEXBZUS files share 35 dates). An overlap is accepted only if all its
    non-missing values agree; the kept row is the first file (in ``paths`` order) with
    a non-missing value, else the first file. Disagreement means the vintages were
    revised and a silent choice would be wrong, so it raises naming files and date.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise SourceError("read_fred_many: no files given")
    frames = [read_fred_csv(p).assign(_file=i) for i, p in enumerate(paths)]
    combined = pd.concat(frames, ignore_index=True)
    key = ["series_id", "obs_date"]

    present = combined.dropna(subset=["value"])
    distinct = present.groupby(key)["value"].nunique()
    conflicts = distinct[distinct > 1]
    if len(conflicts):
        lines = []
        for sid, day in conflicts.index[:_MAX_SHOWN]:
            rows = present[(present["series_id"] == sid) & (present["obs_date"] == day)]
            values = ", ".join(
                f"{paths[f]}={v!r}" for f, v in zip(rows["_file"], rows["value"], strict=True)
            )
            lines.append(f"{sid} on {day:%Y-%m-%d}: {values}")
        more = f" (and {len(conflicts) - _MAX_SHOWN} more)" if len(conflicts) > _MAX_SHOWN else ""
        raise SourceError("conflicting FRED values for the same date: " + "; ".join(lines) + more)

    combined["_missing"] = combined["value"].isna()
    combined = combined.sort_values([*key, "_missing", "_file"], kind="mergesort")
    merged = combined.drop_duplicates(key, keep="first")
    return _finish(merged, "raw_fred", ", ".join(str(p) for p in paths))


# --- CFTC COT ----------------------------------------------------------------------


def read_cot(path: str | Path) -> pd.DataFrame:
    """Read the weekly soy-complex COT parquet into long format.

    Columns ``ZL_COT_%`` etc. hold non-commercial net % of open interest; one row per
    (symbol, Tuesday as-of date) keeps the table narrow and joinable by symbol.
    """
    path = Path(path)
    frame = _read_parquet(path)
    columns = {f"{s}_COT_%": s for s in COT_SYMBOLS}
    _require_columns(path, frame.columns, columns)
    problems = Problems(path)
    dates = _datetime_index(path, frame, "report date", problems)
    timed = np.flatnonzero((dates != dates.dt.normalize()).to_numpy() & dates.notna().to_numpy())
    problems.add_rows(
        "report dates must be midnight (a date)",
        timed.tolist(),
        [str(v) for v in dates.iloc[timed]],
    )
    parts = [
        pd.DataFrame(
            {
                "report_date": dates,
                "symbol": symbol,
                "noncomm_net_pct": _parse_numbers(problems, frame[column], column, frozenset()),
                "source_file": path.name,
                "source_row": np.arange(len(frame), dtype="int64"),
            }
        )
        for column, symbol in columns.items()
    ]
    for part in parts:  # one part per symbol, each indexed by the file's row
        _gate("raw_cot", part, problems, check_only=True)
    problems.raise_if_any("raw_cot")
    return _finish(pd.concat(parts, ignore_index=True), "raw_cot", path)


# --- weather -----------------------------------------------------------------------


def _read_ghcn_txt(path: Path, region: str) -> pd.DataFrame:
    station = path.stem
    if not _GHCN_STATION.fullmatch(station):
        raise _fail(path, f"file name must be an 11-character GHCN station id, got {station!r}")
    problems = Problems(path, header_lines=0)
    raw = _read_csv_text(path, problems, sep="\t", header=None)
    if raw.shape[1] != 4:
        raise _fail(
            path, f"expected 4 tab-separated fields (date, tmax, tmin, prcp), found {raw.shape[1]}"
        )
    dates = _parse_dates(problems, raw[0], "date", "%Y%m%d")
    _check_unique(problems, _iso(dates), "date")
    missing = frozenset({"-9999"})
    tenths = [
        _parse_numbers(problems, raw[i], name, missing) / 10.0
        for i, name in ((1, "tmax"), (2, "tmin"), (3, "prcp"))
    ]
    frame = pd.DataFrame(
        {
            "station_id": station,
            "region": region,
            "obs_date": dates,
            "tmax_c": tenths[0],
            "tmin_c": tenths[1],
            "prcp_mm": tenths[2],
            "source_file": path.name,
            "source_row": np.arange(len(raw), dtype="int64"),
        }
    )
    _gate("raw_weather", frame, problems)
    return frame


def read_ghcn_txt_dir(directory: str | Path, region: str) -> pd.DataFrame:
    """Read every ``<STATION>.txt`` in a directory of headerless GHCN-Daily extracts.

    Fields are ``YYYYMMDD``, tmax and tmin in tenths of deg C, prcp in tenths of mm;
    ``-9999`` is missing. Days absent as rows stay absent: gap handling is staging's.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise _fail(directory, "station directory not found")
    files = sorted(directory.glob("*.txt"))
    if not files:
        raise _fail(directory, "no <STATION>.txt files in station directory")
    frames = [_read_ghcn_txt(f, region) for f in files]
    return _finish(pd.concat(frames, ignore_index=True), "raw_weather", directory)


def read_milwaukee_csv(path: str | Path) -> pd.DataFrame:
    """Read the Milwaukee GHCN CSV, converting its inches and deg F back to mm and deg C.

    The repo author converted GHCN tenths to imperial units, leaving float noise;
    rounding to 0.1 restores the original GHCN resolution exactly. ``NA`` is missing.
    """
    path = Path(path)
    problems = Problems(path, header_lines=1)
    raw = _read_csv_text(path, problems)
    _require_columns(path, raw.columns, ["date", "TMAX", "TMIN", "PRCP"])
    dates = _parse_dates(problems, raw["date"], "date", "%Y-%m-%d")
    _check_unique(problems, _iso(dates), "date")
    missing = frozenset({"NA"})
    tmax_f, tmin_f, prcp_in = (
        _parse_numbers(problems, raw[c], c, missing) for c in ("TMAX", "TMIN", "PRCP")
    )
    frame = pd.DataFrame(
        {
            "station_id": MILWAUKEE_STATION,
            "region": MILWAUKEE_REGION,
            "obs_date": dates,
            "tmax_c": ((tmax_f - 32.0) * 5.0 / 9.0).round(1),
            "tmin_c": ((tmin_f - 32.0) * 5.0 / 9.0).round(1),
            "prcp_mm": (prcp_in * 25.4).round(1),
            "source_file": path.name,
            "source_row": np.arange(len(raw), dtype="int64"),
        }
    )
    _gate("raw_weather", frame, problems)
    return _finish(frame, "raw_weather", path)


# --- whole sample ------------------------------------------------------------------


def _read_source(path: Path, source: SampleSource) -> pd.DataFrame:
    key = source.key or ""
    match source.reader:
        case "tradingview":
            return read_tradingview(path, key)
        case "yahoo":
            return read_yahoo(path, key)
        case "fred":
            return read_fred_csv(path)
        case "cot":
            return read_cot(path)
        case "ghcn_dir":
            return read_ghcn_txt_dir(path, key)
        case "milwaukee":
            return read_milwaukee_csv(path)
    raise SourceError(f"{path}: unknown reader {source.reader!r}")


def read_table(
    sample_dir: str | Path, table: str, sources: Iterable[SampleSource] | None = None
) -> pd.DataFrame:
    """Read one raw table from the sample directory (only ``sources`` of it, if given);
    FRED files are merged as a set."""
    if table not in SAMPLE_FILES:
        raise SourceError(f"unknown raw table {table!r}; expected one of {sorted(SAMPLE_FILES)}")
    root = Path(sample_dir)
    sources = list(SAMPLE_FILES[table] if sources is None else sources)
    frames = [_read_source(root / s.path, s) for s in sources if s.reader != "fred"]
    fred = [root / s.path for s in sources if s.reader == "fred"]
    if fred:
        frames.append(read_fred_many(fred))
    if not frames:
        return _finish(pd.DataFrame({c: [] for c in TABLE_SCHEMAS[table]}), table, root)
    return _finish(pd.concat(frames, ignore_index=True), table, root)
