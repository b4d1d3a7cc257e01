"""Live sources as the workflow plans them: which raw table each writes, which key it
needs, and the date range a run asks for.

Everything here runs when Snakemake parses the workflow, so it reads config only: no
network, no API keys (dry-runs must work without either). ``end_date: today`` is
resolved here, so the range is a params value of each ingest job: a new day is a new
range and reruns the ingest jobs, the same day leaves them up to date.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Final

from zlflow.errors import ConfigError
from zlflow.sources.openmeteo import locations_from_config

# Live source -> the raw table it writes (a table no selected source writes stays sample).
SOURCE_TABLES: Final[Mapping[str, str]] = {
    "databento": "raw_futures_daily",
    "synthetic": "raw_futures_daily",
    "fred": "raw_fred",
    "weather": "raw_weather",
}
# Live source -> the environment variable holding its API key (keys never live in config).
API_KEYS: Final[Mapping[str, str]] = {
    "databento": "DATABENTO_API_KEY",
    "fred": "FRED_API_KEY",
}


def selected(config: Mapping[str, Any]) -> list[str]:
    """The live sources this run uses: ``sources.use`` when ``source`` is live, else none."""
    if config.get("source") != "live":
        return []
    return list(config["sources"]["use"])


def live_tables(config: Mapping[str, Any]) -> list[str]:
    """Raw tables that come from live sources instead of the bundled sample."""
    return sorted({SOURCE_TABLES[s] for s in selected(config)})


def resolve_end(value: str, today: date) -> date:
    """``today`` or an ISO date."""
    return today if value == "today" else date.fromisoformat(value)


def date_range(config: Mapping[str, Any], source: str, today: date) -> dict[str, str]:
    """The inclusive range ``source`` should cover: ``start_date`` less the source's
    ``lead_days`` (history its features need before the first row) to ``end_date`` less
    its ``delay_days`` (days before a day's data is final)."""
    settings = config["sources"]
    end = resolve_end(settings["end_date"], today)
    end -= timedelta(days=settings[source].get("delay_days", 0))
    start = date.fromisoformat(settings["start_date"])
    start -= timedelta(days=settings[source].get("lead_days", 0))
    return {"start": start.isoformat(), "end": end.isoformat()}


def databento_symbols(config: Mapping[str, Any]) -> dict[str, str]:
    """Warehouse symbol -> continuous symbol: ``ZL.c.0`` is loaded as ``ZL``."""
    return {s.split(".")[0]: s for s in config["sources"]["databento"]["symbols"]}


def synthetic_symbols(config: Mapping[str, Any]) -> list[str]:
    return [f"SYN{i:03d}" for i in range(config["sources"]["synthetic"]["symbols"])]


def weather_locations(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Configured locations (or the defaults) by name, as plain dicts for params."""
    locations = locations_from_config(config["sources"]["weather"]["locations"])
    return {
        loc.name: {
            "name": loc.name,
            "region": loc.region,
            "latitude": loc.latitude,
            "longitude": loc.longitude,
            "timezone": loc.timezone,
        }
        for loc in locations
    }


def ingest_units(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per selected source, its ingest jobs' units: series, locations, symbols."""
    units = {
        "fred": lambda: list(config["sources"]["fred"]["series"]),
        "weather": lambda: list(weather_locations(config)),
        "databento": lambda: list(databento_symbols(config)),
        "synthetic": lambda: ["futures"],
    }
    return {source: units[source]() for source in selected(config)}


def check_sources(config: Mapping[str, Any], today: date) -> None:
    """Checks the schema cannot express, as one-line ConfigErrors naming the key."""
    uses = selected(config)
    if not uses:
        return
    settings = config["sources"]
    end = resolve_end(settings["end_date"], today)
    if end > today:
        raise ConfigError(
            f"config sources.end_date: {end} is in the future (today is {today}); "
            "use a past date or 'today'"
        )
    for source in uses:
        rng = date_range(config, source, today)
        if rng["end"] < settings["start_date"]:
            raise ConfigError(
                f"config sources.end_date: {source} would fetch up to {rng['end']}, before "
                f"sources.start_date {settings['start_date']}"
            )
    if "fred" in uses:
        lags = config["release_lags"]
        missing = [s for s in settings["fred"]["series"] if s not in lags]
        if missing:
            raise ConfigError(
                f"config sources.fred.series: {', '.join(missing)} has no release_lags entry; "
                "add the days from observation to publication under release_lags"
            )
    if "weather" in uses:
        names = [e["name"] for e in settings["weather"]["locations"] or []]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(
                f"config sources.weather.locations: duplicate name {', '.join(duplicates)}"
            )
    if "databento" in uses:
        continuous = settings["databento"]["symbols"]
        roots = [s.split(".")[0] for s in continuous]
        twice = sorted({r for r in roots if roots.count(r) > 1})
        if twice:
            raise ConfigError(
                f"config sources.databento.symbols: more than one series of {', '.join(twice)}; "
                "each root is one warehouse symbol"
            )
    if {"databento", "synthetic"} <= set(uses):
        clash = set(databento_symbols(config)) & set(synthetic_symbols(config))
        if clash:
            raise ConfigError(
                f"config sources.databento.symbols: {', '.join(sorted(clash))} is also a "
                "synthetic symbol; one source per symbol"
            )
