"""Daily weather for named crop locations from the Open-Meteo historical archive.

The archive is ERA5-based reanalysis on a grid, so a "station" here is a named grid
point in a growing area, not a gauge; ``station_id`` is the location name and
``region`` its growing region. Days are aggregated in the location's own time zone
(``timezone=auto``) so a day matches the local calendar day the crop experiences.
No API key is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from zlflow.errors import SourceError
from zlflow.markers import write_json_atomic
from zlflow.sources.http import HttpClient, RetryPolicy
from zlflow.sources.validate import cast_to_table

ARCHIVE_URL: Final = "https://archive-api.open-meteo.com/v1/archive"
DAILY: Final[Mapping[str, str]] = {
    "temperature_2m_max": "tmax_c",
    "temperature_2m_min": "tmin_c",
    "precipitation_sum": "prcp_mm",
}
UNITS: Final[Mapping[str, str]] = {
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "precipitation_sum": "mm",
}


@dataclass(frozen=True)
class Location:
    """A named grid point: ``name`` becomes ``station_id``, ``region`` groups locations."""

    name: str
    region: str
    latitude: float
    longitude: float
    timezone: str = "auto"

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise SourceError(
                f"location {self.name!r}: latitude/longitude out of range "
                f"({self.latitude}, {self.longitude})"
            )


# Core soybean areas: the US Corn Belt, Brazil's largest producing state, Argentina's
# core zone. Points sit in the main producing counties/municipalities.
DEFAULT_LOCATIONS: Final[tuple[Location, ...]] = (
    Location("iowa_central", "iowa", 42.03, -93.47),  # Story County (Ames)
    Location("illinois_central", "illinois", 40.12, -88.85),  # McLean/DeWitt/Macon area
    Location("mato_grosso_sorriso", "mato_grosso", -12.55, -55.71),  # Sorriso, MT
    Location("buenos_aires_pergamino", "buenos_aires", -33.89, -60.57),  # Pergamino, BA
)


def locations_from_config(entries: Sequence[Mapping[str, Any]] | None) -> tuple[Location, ...]:
    """Locations from config dicts (name, region, latitude, longitude[, timezone])."""
    if not entries:
        return DEFAULT_LOCATIONS
    try:
        return tuple(Location(**dict(e)) for e in entries)
    except TypeError as err:
        raise SourceError(
            f"open-meteo locations: each needs name, region, latitude, longitude: {err}"
        ) from None


def parse_archive(location: Location, payload: Any, source_file: str) -> pd.DataFrame:
    """One archive response as ``raw_weather`` rows; units must be °C and mm.

    Missing values (JSON null) stay NaN; a day with all three missing is kept so the
    gap is visible, as GHCN rows with -9999 are.
    """
    where = f"Open-Meteo {location.name} ({source_file})"
    if not isinstance(payload, Mapping) or not isinstance(payload.get("daily"), Mapping):
        got = sorted(payload) if isinstance(payload, Mapping) else type(payload).__name__
        raise SourceError(f"{where}: response has no 'daily' block (got {got})")
    daily, units = payload["daily"], payload.get("daily_units", {})
    missing = [k for k in ("time", *DAILY) if not isinstance(daily.get(k), list)]
    if missing:
        raise SourceError(f"{where}: 'daily' lacks {missing}; found {sorted(daily)}")
    wrong = {k: units.get(k) for k, u in UNITS.items() if units.get(k) != u}
    if wrong:
        raise SourceError(f"{where}: unexpected units {wrong}; expected {dict(UNITS)}")
    lengths = {k: len(daily[k]) for k in ("time", *DAILY)}
    if len(set(lengths.values())) != 1:
        raise SourceError(f"{where}: daily arrays differ in length {lengths} (truncated?)")
    dates = pd.to_datetime(
        pd.Series(daily["time"], dtype="str"), format="%Y-%m-%d", errors="coerce"
    )
    if dates.isna().any():
        bad = [daily["time"][i] for i in np.flatnonzero(dates.isna().to_numpy())[:10]]
        raise SourceError(f"{where}: unparseable dates {bad}")
    columns: dict[str, Any] = {}
    for api_name, column in DAILY.items():
        values = pd.to_numeric(pd.Series(daily[api_name], dtype="object"), errors="coerce")
        given = pd.Series(daily[api_name], dtype="object").notna()
        bad_rows = np.flatnonzero((given & values.isna()).to_numpy())
        if bad_rows.size:
            shown = [(daily["time"][i], daily[api_name][i]) for i in bad_rows[:10]]
            raise SourceError(f"{where}: non-numeric {api_name} at {shown}")
        columns[column] = values.astype("float64").to_numpy()
    frame = pd.DataFrame(
        {
            "station_id": location.name,
            "region": location.region,
            "obs_date": dates,
            **columns,
            "source_file": source_file,
            "source_row": np.arange(len(dates), dtype="int64"),  # the day's position
        }
    )
    return cast_to_table(frame, "raw_weather")


class OpenMeteoClient:
    """Fetch daily archive weather, one request per location."""

    def __init__(self, base_url: str = ARCHIVE_URL, policy: RetryPolicy | None = None) -> None:
        self.base_url = base_url
        self.http = HttpClient("Open-Meteo", policy)

    def __enter__(self) -> OpenMeteoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def fetch_json(self, location: Location, start: date, end: date) -> Any:
        params = {
            "latitude": location.latitude,
            "longitude": location.longitude,
            "start_date": f"{start:%Y-%m-%d}",
            "end_date": f"{end:%Y-%m-%d}",
            "daily": ",".join(DAILY),
            "timezone": location.timezone,
        }
        return self.http.get_json(self.base_url, params)

    def fetch(
        self,
        start: date,
        end: date,
        locations: Sequence[Location] = DEFAULT_LOCATIONS,
        raw_dir: str | Path | None = None,
    ) -> pd.DataFrame:
        """Daily weather for every location in [start, end] as ``raw_weather`` rows.

        With ``raw_dir`` each location's response is kept there as
        ``openmeteo_<name>_<start>_<end>.json`` and named in ``source_file``.
        """
        if end < start:
            raise SourceError(f"Open-Meteo: end {end} is before start {start}")
        names = [loc.name for loc in locations]
        if not names:
            raise SourceError("Open-Meteo: no locations to fetch")
        if len(set(names)) != len(names):
            raise SourceError(f"Open-Meteo: duplicate location names {names}")
        frames = []
        for location in locations:
            payload = self.fetch_json(location, start, end)
            source_file = f"openmeteo:{location.name}"
            if raw_dir is not None:
                path = Path(raw_dir, f"openmeteo_{location.name}_{start:%Y%m%d}_{end:%Y%m%d}.json")
                write_json_atomic(path, payload)
                source_file = path.name
            frames.append(parse_archive(location, payload, source_file))
        return cast_to_table(pd.concat(frames, ignore_index=True), "raw_weather")
