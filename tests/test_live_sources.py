"""Planning live sources from config: ranges, the tables they own, one-line config errors."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from snakemake.utils import validate

from zlflow.config import check_config
from zlflow.errors import ConfigError
from zlflow.sources import live

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
TODAY = date(2026, 3, 10)


@pytest.fixture
def cfg() -> dict[str, Any]:
    """The shipped config switched to live sources, schema defaults filled in."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["source"] = "live"
    validate(config, str(SCHEMA))
    return config


def test_sample_mode_selects_no_live_source(cfg: dict[str, Any]) -> None:
    cfg["source"] = "sample"
    assert live.selected(cfg) == [] and live.live_tables(cfg) == []
    cfg["sources"]["end_date"] = "2099-01-01"  # not read in sample mode
    live.check_sources(cfg, TODAY)


def test_live_tables_and_ranges(cfg: dict[str, Any]) -> None:
    assert live.live_tables(cfg) == ["raw_fred", "raw_futures_daily", "raw_weather"]
    units = live.ingest_units(cfg)
    assert sorted(units) == ["databento", "fred", "weather"]
    assert units["databento"] == ["ZL", "ZS", "ZM", "ZC", "CL", "ES"]
    assert live.databento_symbols(cfg)["ZL"] == "ZL.c.0"
    # Databento's bar for a day is final the next day.
    assert live.date_range(cfg, "databento", TODAY) == {"start": "2010-06-06", "end": "2026-03-09"}
    # FRED and weather start earlier (lead_days), so that the year-on-year changes and
    # the five-year weather climatology exist from the futures' first feature row.
    assert live.date_range(cfg, "fred", TODAY) == {"start": "2009-05-02", "end": "2026-03-10"}
    assert live.date_range(cfg, "weather", TODAY)["start"] == "2005-06-02"
    cfg["sources"]["end_date"] = "2025-12-31"
    assert live.date_range(cfg, "weather", TODAY)["end"] == "2025-12-31"
    assert list(live.weather_locations(cfg)) == [
        "iowa_central",
        "illinois_central",
        "mato_grosso_sorriso",
        "buenos_aires_pergamino",
    ]
    live.check_sources(cfg, TODAY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s.update(end_date="2026-03-11"),
            "config sources.end_date: 2026-03-11 is in the future (today is 2026-03-10)",
        ),
        (
            lambda s: s.update(end_date="2009-01-01"),
            "config sources.end_date: databento would fetch up to 2008-12-31, before",
        ),
        (
            lambda s: s["fred"].update(series=["DGS10", "DGS30"]),
            "config sources.fred.series: DGS30 has no release_lags entry",
        ),
        (
            lambda s: s["weather"].update(
                locations=[{"name": "a", "region": "r", "latitude": 1, "longitude": 2}] * 2
            ),
            "config sources.weather.locations: duplicate name a",
        ),
        (
            lambda s: (
                s.update(use=["databento", "synthetic"])
                or s["databento"].update(symbols=["SYN000.c.0"])
            ),
            "config sources.databento.symbols: SYN000 is also a synthetic symbol",
        ),
        (
            lambda s: s["databento"].update(symbols=["ZL.c.0", "ZL.c.1"]),
            "config sources.databento.symbols: more than one series of ZL",
        ),
    ],
)
def test_live_config_errors_are_one_line(cfg: dict[str, Any], change: Any, message: str) -> None:
    bad = copy.deepcopy(cfg)
    change(bad["sources"])
    with pytest.raises(ConfigError) as err:
        live.check_sources(bad, TODAY)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(use=["bloomberg"]), "config sources.use.0: 'bloomberg' is not one of"),
        (lambda s: s.update(end_date="yesterday"), "config sources.end_date:"),
        (lambda s: s["databento"].update(symbols=["ZL"]), "config sources.databento.symbols.0"),
        (lambda s: s["fred"].update(api_key="x"), "config sources.fred: unknown key 'api_key'"),
    ],
)
def test_bad_sources_keys_are_named(change: Any, message: str) -> None:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    change(config["sources"])
    with pytest.raises(ConfigError) as err:
        check_config(config, SCHEMA)
    assert message in str(err.value) and "\n" not in str(err.value)
