"""Reference and configuration tables: values from config enter SQL as data, never as text."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

# Dataset market_data holds these besides the raw tables; each is built from one config subset.
REFERENCE_TABLES: tuple[str, ...] = (
    "cbot_calendar",
    "roll_calendar",
    "cfg_horizons",
    "cfg_release_lags",
    "cfg_settings",
    "cfg_alerts",
    "cfg_assertions",
)


def config_subset(
    config: Mapping[str, Any], table: str, assertions: Sequence[str] = ()
) -> dict[str, Any]:
    """The part of config a reference table depends on (a Snakemake params value).

    ``cfg_assertions`` lists the assertions the workflow defines (``sql/assertions``), so
    the alerts view can tell a skipped assertion from a passed one.
    """
    # The staging calendar: calendar.exchanges only chooses the load gate's calendars.
    calendar = {k: v for k, v in config["calendar"].items() if k != "exchanges"}
    subsets: dict[str, Callable[[], dict[str, Any]]] = {
        "cbot_calendar": lambda: {"calendar": calendar},
        "roll_calendar": lambda: {
            "calendar": calendar,
            "rolls": dict(config["rolls"]),
        },
        "cfg_horizons": lambda: {"horizons": dict(config["horizons"])},
        "cfg_release_lags": lambda: {"release_lags": dict(config["release_lags"])},
        "cfg_settings": lambda: {
            "features": dict(config["features"]),
            "split": dict(config["split"]),
        },
        "cfg_alerts": lambda: {"alerts": dict(config["alerts"])},
        "cfg_assertions": lambda: {"assertions": sorted(assertions)},
    }
    if table not in subsets:
        raise KeyError(f"unknown reference table {table!r}; known: {REFERENCE_TABLES}")
    return subsets[table]()


def build_reference_table(table: str, settings: Mapping[str, Any]) -> pd.DataFrame:
    """Build one reference table from its config subset."""
    # Imported here: the Snakefile reads REFERENCE_TABLES, and the exchange calendars
    # would add a fifth of a second to every `snakemake` call.
    from zlflow.calendar import calendar_table, roll_table, trading_days

    if table == "cbot_calendar":
        cal = settings["calendar"]
        return calendar_table(cal["exchange"], cal["start"], cal["end"])
    if table == "roll_calendar":
        cal = settings["calendar"]
        sessions = trading_days(cal["exchange"], cal["start"], cal["end"])
        frames = [
            roll_table(symbol, spec["contract_months"], spec["days_before_first_notice"], sessions)
            for symbol, spec in sorted(settings["rolls"].items())
        ]
        return pd.concat(frames, ignore_index=True)
    if table == "cfg_horizons":
        items = sorted(settings["horizons"].items(), key=lambda kv: kv[1])
        return pd.DataFrame(
            {
                "horizon_name": [str(k) for k, _ in items],
                "horizon_days": pd.array([v for _, v in items], dtype="int64"),
            }
        )
    if table == "cfg_release_lags":
        items = sorted(settings["release_lags"].items())
        return pd.DataFrame(
            {
                "series_id": [k for k, _ in items],
                "lag_days": pd.array([v for _, v in items], dtype="int64"),
            }
        )
    if table == "cfg_settings":
        features, split = settings["features"], settings["split"]
        return pd.DataFrame(
            {
                "warmup_sessions": pd.array([features["warmup_sessions"]], dtype="int64"),
                "feature_start_date": [date.fromisoformat(features["start_date"])],
                "climatology_min_years": pd.array(
                    [features.get("climatology_min_years", 5)], dtype="int64"
                ),
                "validation_start": [date.fromisoformat(split["validation_start"])],
                "test_start": [date.fromisoformat(split["test_start"])],
            }
        )
    if table == "cfg_alerts":
        alerts = settings["alerts"]
        as_of = alerts.get("as_of")
        return pd.DataFrame(
            {
                "p_up_high": [float(alerts["p_up_high"])],
                "p_up_low": [float(alerts["p_up_low"])],
                "band_lookback_sessions": pd.array([alerts["band_lookback_sessions"]], "int64"),
                "stale_after_sessions": pd.array([alerts["stale_after_sessions"]], "int64"),
                # NaT (no date) means "judge alerts on today's date".
                "as_of_date": pd.to_datetime([as_of]).astype("datetime64[us]"),
            }
        )
    if table == "cfg_assertions":
        return pd.DataFrame({"assertion": list(settings["assertions"])}, dtype="str")
    raise KeyError(f"unknown reference table {table!r}; known: {REFERENCE_TABLES}")
