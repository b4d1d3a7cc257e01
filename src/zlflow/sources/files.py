"""Bring your own data: a user's CSV or Parquet file for any raw table, through the gate.

``source: files`` in config lists files per raw table; each file replaces the bundled
sample's files for the same series (futures symbol, FRED series, weather region; a COT
file replaces the bundled COT table), and the rest of the sample stays. A file holds the
columns below (names mapped with ``columns:``); the reader checks every row with the same
gate as the sample and live sources and reports every problem of the file in one error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from zlflow.errors import ConfigError
from zlflow.sources.sample import (
    _FRED_FILE_NAME,
    MILWAUKEE_REGION,
    SAMPLE_FILES,
    SampleSource,
    _check_unique,
    _fail,
    _finish,
    _gate,
    _parse_dates,
    _parse_numbers,
    _read_csv_text,
    _read_parquet,
    _require_columns,
    futures_frame,
    read_table,
)
from zlflow.sources.validate import (
    DEFAULT_EXCHANGE,
    LABEL_KINDS,
    OUTSIDE_RANGE_SOURCES,
    REPAIRS,
    WIDEN_RANGE,
    Problems,
    widened_rows,
)

FORMATS: Final = ("csv", "parquet")
# The columns a file of each table holds (after ``columns:`` renames); optional ones may
# be absent (missing values).
FILE_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "raw_futures_daily": ("date", "open", "high", "low", "close", "volume"),
    "raw_fred": ("date", "value"),
    "raw_cot": ("date", "symbol", "noncomm_net_pct"),
    "raw_weather": ("date", "tmax_c", "tmin_c", "prcp_mm"),
}
OPTIONAL_COLUMNS: Final = frozenset({"volume"})
# Entry keys each table requires, and those it may have, besides path/format/columns/...
REQUIRED_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "raw_futures_daily": ("symbol",),
    "raw_fred": ("series",),
    "raw_cot": (),
    "raw_weather": ("station", "region"),
}
TABLE_KEYS_ALLOWED: Final[Mapping[str, tuple[str, ...]]] = {
    "raw_futures_daily": ("symbol", "source", "label_kind", "repair"),
    "raw_fred": ("series",),
    "raw_cot": (),
    "raw_weather": ("station", "region"),
}
COMMON_KEYS: Final = ("path", "format", "columns", "date_format", "na_values")
DEFAULT_SOURCE: Final = "file"


@dataclass(frozen=True)
class FileSpec:
    """One user file and how to read it into ``table``."""

    table: str
    path: Path
    format: str
    columns: Mapping[str, str] = field(default_factory=dict)  # table column -> file column
    date_format: str = "ISO8601"
    na_values: tuple[str, ...] = ("",)
    symbol: str = ""
    source: str = DEFAULT_SOURCE
    label_kind: str = "trade_date"
    repair: tuple[str, ...] = ()
    series: str = ""
    station: str = ""
    region: str = ""
    # The calendar of the gap check: config calendar.exchanges for the symbol.
    exchange: str = DEFAULT_EXCHANGE

    @property
    def widen(self) -> frozenset[str]:
        """Sources whose bars the widen_range repair may change (this file's, if opted in)."""
        return frozenset({self.source}) if WIDEN_RANGE in self.repair else frozenset()


def spec_from_entry(table: str, entry: Mapping[str, Any], base: str | Path = ".") -> FileSpec:
    """A FileSpec from one ``files.<table>`` config entry; a wrong key names the fix."""
    where = f"files.{table}"
    if table not in FILE_COLUMNS:
        raise ConfigError(f"{where}: unknown raw table; expected one of {sorted(FILE_COLUMNS)}")
    allowed = set(COMMON_KEYS) | set(TABLE_KEYS_ALLOWED[table])
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown} for {table}; allowed {sorted(allowed)}"
        )
    if "path" not in entry:
        raise ConfigError(f"{where}: every entry needs a path")
    missing = [k for k in REQUIRED_KEYS[table] if not entry.get(k)]
    if missing:
        raise ConfigError(f"{where}: {entry['path']} needs {missing}")
    path = Path(base, entry["path"])
    fmt = entry.get("format") or path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: {path}: format {fmt!r} is not one of {FORMATS}; set format:")
    columns = dict(entry.get("columns") or {})
    bad = sorted(set(columns) - set(FILE_COLUMNS[table]))
    if bad:
        raise ConfigError(
            f"{where}: columns maps {bad}, which {table} files do not have; "
            f"expected some of {list(FILE_COLUMNS[table])}"
        )
    repair = tuple(entry.get("repair") or ())
    if set(repair) - set(REPAIRS):
        raise ConfigError(f"{where}: repair {list(repair)}: known repairs are {list(REPAIRS)}")
    label_kind = entry.get("label_kind", "trade_date")
    if label_kind not in LABEL_KINDS:
        raise ConfigError(f"{where}: label_kind {label_kind!r} is not one of {LABEL_KINDS}")
    return FileSpec(
        table=table,
        path=path,
        format=fmt,
        columns=columns,
        date_format=entry.get("date_format", "ISO8601"),
        na_values=tuple(entry.get("na_values", [""])),
        symbol=str(entry.get("symbol", "")),
        source=str(entry.get("source", DEFAULT_SOURCE)),
        label_kind=label_kind,
        repair=repair,
        series=str(entry.get("series", "")),
        station=str(entry.get("station", "")),
        region=str(entry.get("region", "")),
    )


def specs_from_config(
    files: Mapping[str, Any] | None, table: str, base: str | Path = "."
) -> list[FileSpec]:
    """The FileSpecs config lists for ``table`` (none when it lists no files for it)."""
    return [spec_from_entry(table, entry, base) for entry in (files or {}).get(table) or []]


def _read_columns(spec: FileSpec, problems: Problems) -> pd.DataFrame:
    """The file's cells under the table's column names (text for CSV, typed for Parquet)."""
    if spec.format == "csv":
        raw = _read_csv_text(spec.path, problems)
    else:
        raw = _read_parquet(spec.path)
        if not isinstance(raw.index, pd.RangeIndex):  # e.g. a DatetimeIndex of dates
            raw = raw.reset_index()
    renames = {file_col: col for col, file_col in spec.columns.items()}
    raw = raw.rename(columns=renames)
    required = [c for c in FILE_COLUMNS[spec.table] if c not in OPTIONAL_COLUMNS]
    _require_columns(spec.path, raw.columns, required)
    return raw.reset_index(drop=True)


def _dates(spec: FileSpec, raw: pd.Series, problems: Problems) -> pd.Series:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        raise _fail(spec.path, "dates must be naive (no time zone): convert them first")
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        dates = raw.astype("datetime64[us]").reset_index(drop=True)
        nat = np.flatnonzero(dates.isna().to_numpy())
        problems.add_rows("missing date in column 'date'", nat.tolist(), ["NaT"] * nat.size)
        return dates
    return _parse_dates(problems, raw.astype(str), "date", spec.date_format)


def read_file(spec: FileSpec) -> pd.DataFrame:
    """Read one user file into its raw table's columns; every problem in one SourceError."""
    problems = Problems(spec.path, header_lines=1 if spec.format == "csv" else None)
    raw = _read_columns(spec, problems)
    dates = _dates(spec, raw["date"], problems)
    missing = frozenset(spec.na_values)

    def number(column: str) -> pd.Series:
        if column not in raw.columns:
            return pd.Series(np.nan, index=raw.index, dtype="float64")
        return _parse_numbers(problems, raw[column], column, missing)

    if spec.table == "raw_futures_daily":
        _check_unique(problems, dates.astype(str), "date")
        prices = {c: number(c) for c in ("open", "high", "low", "close", "volume")}
        return futures_frame(
            spec.path,
            spec.symbol,
            spec.source,
            spec.label_kind,
            dates,
            prices,
            problems,
            widen=spec.widen,
            exchange=spec.exchange,
        )
    _check_unique(
        problems,
        dates.dt.strftime("%Y-%m-%d") + ("|" + raw["symbol"].astype(str))
        if spec.table == "raw_cot"
        else dates.dt.strftime("%Y-%m-%d"),
        "date" if spec.table != "raw_cot" else "(symbol, date)",
    )
    if spec.table == "raw_fred":
        frame = pd.DataFrame(
            {
                "series_id": spec.series,
                "obs_date": dates,
                "value": number("value"),
                "source_file": spec.path.name,
                "source_row": np.arange(len(raw), dtype="int64"),
            }
        )
    elif spec.table == "raw_weather":
        frame = pd.DataFrame(
            {
                "station_id": spec.station,
                "region": spec.region,
                "obs_date": dates,
                "tmax_c": number("tmax_c"),
                "tmin_c": number("tmin_c"),
                "prcp_mm": number("prcp_mm"),
                "source_file": spec.path.name,
                "source_row": np.arange(len(raw), dtype="int64"),
            }
        )
    else:
        frame = pd.DataFrame(
            {
                "report_date": dates,
                "symbol": raw["symbol"].astype(str).str.strip(),
                "noncomm_net_pct": number("noncomm_net_pct"),
                "source_file": spec.path.name,
                "source_row": np.arange(len(raw), dtype="int64"),
            }
        )
    _gate(spec.table, frame, problems, widen=frozenset())
    return _finish(frame, spec.table, spec.path)


def kept_sample_sources(table: str, specs: Iterable[FileSpec]) -> list[SampleSource]:
    """The bundled sources of ``table`` that no user file replaces (same series)."""
    specs = list(specs)
    sources = list(SAMPLE_FILES[table])
    if not specs:
        return sources
    if table == "raw_cot":
        return []
    if table == "raw_futures_daily":
        symbols = {s.symbol for s in specs}
        return [s for s in sources if s.key not in symbols]
    if table == "raw_fred":
        series = {s.series for s in specs}
        return [s for s in sources if _sample_series(s) not in series]
    regions = {s.region for s in specs}
    return [s for s in sources if (s.key or MILWAUKEE_REGION) not in regions]


def _sample_series(source: SampleSource) -> str | None:
    match = _FRED_FILE_NAME.fullmatch(source.path)
    return match.group(1) if match else None


def widen_sources(specs: Iterable[FileSpec]) -> frozenset[str]:
    """Every source a table's rows may be repaired for: the known ones and the opted-in."""
    opted = frozenset().union(*(s.widen for s in specs))
    return OUTSIDE_RANGE_SOURCES | opted


def repairs(frame: pd.DataFrame, table: str, widen: frozenset[str]) -> dict[str, int]:
    """Counts of rows each repair changes (recorded in the load marker and the job log)."""
    if table != "raw_futures_daily":
        return {}
    return {WIDEN_RANGE: widened_rows(frame, widen)}


def read_raw_table(
    sample_dir: str | Path, table: str, specs: Iterable[FileSpec] = ()
) -> pd.DataFrame:
    """One raw table: the user's files for it and the bundled files they do not replace."""
    specs = list(specs)
    frames = [read_file(spec) for spec in specs]
    kept = kept_sample_sources(table, specs)
    if kept or not frames:
        frames.append(read_table(sample_dir, table, kept))
    origin = ", ".join([str(s.path) for s in specs] + ([str(sample_dir)] if kept else []))
    return _finish(pd.concat(frames, ignore_index=True), table, origin)
