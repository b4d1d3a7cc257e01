"""The raw warehouse tables: columns, types and natural keys, shared by readers and the gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

FUTURES_SCHEMA: Final[Mapping[str, str]] = {
    "symbol": "str",
    "source": "str",
    "label_kind": "str",
    "bar_label": "datetime64[us]",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
    "source_file": "str",
    "source_row": "int64",
}
FRED_SCHEMA: Final[Mapping[str, str]] = {
    "series_id": "str",
    "obs_date": "datetime64[us]",
    "value": "float64",
    "source_file": "str",
    "source_row": "int64",
}
COT_SCHEMA: Final[Mapping[str, str]] = {
    "report_date": "datetime64[us]",
    "symbol": "str",
    "noncomm_net_pct": "float64",
    "source_file": "str",
    "source_row": "int64",
}
WEATHER_SCHEMA: Final[Mapping[str, str]] = {
    "station_id": "str",
    "region": "str",
    "obs_date": "datetime64[us]",
    "tmax_c": "float64",
    "tmin_c": "float64",
    "prcp_mm": "float64",
    "source_file": "str",
    "source_row": "int64",
}

TABLE_SCHEMAS: Final[Mapping[str, Mapping[str, str]]] = {
    "raw_futures_daily": FUTURES_SCHEMA,
    "raw_fred": FRED_SCHEMA,
    "raw_cot": COT_SCHEMA,
    "raw_weather": WEATHER_SCHEMA,
}
TABLE_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "raw_futures_daily": ("symbol", "bar_label"),
    "raw_fred": ("series_id", "obs_date"),
    "raw_cot": ("symbol", "report_date"),
    "raw_weather": ("station_id", "obs_date"),
}
# The column naming one series of a table: the shrink guard counts rows per series.
SERIES_COLUMNS: Final[Mapping[str, str]] = {
    "raw_futures_daily": "symbol",
    "raw_fred": "series_id",
    "raw_cot": "symbol",
    "raw_weather": "station_id",
}
DATE_COLUMNS: Final[Mapping[str, str]] = {
    "raw_futures_daily": "bar_label",
    "raw_fred": "obs_date",
    "raw_cot": "report_date",
    "raw_weather": "obs_date",
}
