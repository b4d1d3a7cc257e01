"""Ingestion jobs: fetch what a live source is missing, MERGE it in, leave a marker.

One job per FRED series, weather location, Databento symbol (and one for the synthetic
generator). A job reads ``market_data.ingest_log`` for the part of its requested range
not fetched yet (plus ``lookback_days`` of recent days, for late publications and
revisions), fetches only that and hands it to :func:`zlflow.sources.ingest.ingest`
(validate, snapshot, MERGE, log). The warehouse is closed while the network is used.

API keys are read from the environment inside the source clients; nothing here sees
them, and markers record ranges, counts and file names, never a URL or a key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from zlflow.errors import SourceError, ZlflowError
from zlflow.jobs import connect
from zlflow.markers import object_marker, write_json_atomic
from zlflow.sources.fred import FredClient
from zlflow.sources.http import RetryPolicy
from zlflow.sources.ingest import DateRange, ingest, ingest_history, missing_range
from zlflow.sources.openmeteo import Location, OpenMeteoClient
from zlflow.warehouse.base import Warehouse

log = logging.getLogger("zlflow")

Fetch = Callable[[DateRange, Path], pd.DataFrame]


@dataclass(frozen=True)
class Plan:
    """What one ingest job fetches: its ingest-log name, table, files and fetcher."""

    source: str  # the ingest_log source, e.g. fred:DGS10
    table: str
    stem: str  # file names: <stem>_<start>_<end>.parquet
    lookback_days: int
    fetch: Fetch
    describe: dict[str, Any]  # for the marker: what was asked for (no URL, no key)


def _policy(retry: Mapping[str, Any]) -> RetryPolicy:
    return RetryPolicy(max_tries=int(retry["max_tries"]), base_delay_s=float(retry["base_delay_s"]))


def _fred(settings: Mapping[str, Any], policy: RetryPolicy) -> Plan:
    series = settings["series"]

    def fetch(rng: DateRange, raw_dir: Path) -> pd.DataFrame:
        raw = raw_dir / f"fred_{series}_{rng.start:%Y%m%d}_{rng.end:%Y%m%d}.json"
        with FredClient(base_url=settings["base_url"], policy=policy) as client:
            return client.fetch(series, rng.start, rng.end, raw_path=raw)

    # An observation is public release_lag days after its date: re-fetch at least that
    # far back, or a value published after the run that first covered its date is lost.
    lookback = int(settings["release_lag_days"]) + int(settings["lookback_days"])
    return Plan(f"fred:{series}", "raw_fred", f"fred_{series}", lookback, fetch, {"series": series})


def _weather(settings: Mapping[str, Any], policy: RetryPolicy) -> Plan:
    location = Location(**settings["location"])

    def fetch(rng: DateRange, raw_dir: Path) -> pd.DataFrame:
        with OpenMeteoClient(base_url=settings["base_url"], policy=policy) as client:
            return client.fetch(rng.start, rng.end, [location], raw_dir=raw_dir)

    return Plan(
        f"openmeteo:{location.name}",
        "raw_weather",
        f"openmeteo_{location.name}",
        int(settings["lookback_days"]),
        fetch,
        {"location": dict(settings["location"])},
    )


def _databento(settings: Mapping[str, Any], policy: RetryPolicy) -> Plan:
    symbol, continuous = settings["symbol"], settings["continuous"]

    def fetch(rng: DateRange, raw_dir: Path) -> pd.DataFrame:
        # Imported here: the databento client costs every other warehouse job 0.4 s.
        from zlflow.sources.databento_source import BarRequest, download_bars, read_ohlcv_dbn

        request = BarRequest((continuous,), rng.start, rng.end, dataset=settings["dataset"])
        path = raw_dir / f"databento_{symbol}_{rng.start:%Y%m%d}_{rng.end:%Y%m%d}.dbn.zst"
        download_bars(
            request,
            path,
            max_cost_usd=settings["max_cost_usd"],
            gateway=settings["gateway"],
            policy=policy,
        )
        return read_ohlcv_dbn(path, {continuous: symbol})

    return Plan(
        f"databento:{symbol}",
        "raw_futures_daily",
        f"databento_{symbol}",
        int(settings["lookback_days"]),
        fetch,
        {"symbol": symbol, "continuous": continuous, "dataset": settings["dataset"]},
    )


def _synthetic(settings: Mapping[str, Any], policy: RetryPolicy) -> Plan:
    """A fixed seeded market from ``start`` for ``years``; a fetch takes its slice."""

    def fetch(rng: DateRange, raw_dir: Path) -> pd.DataFrame:
        from zlflow.sources.synthetic import synthetic_futures  # a test source

        frame = synthetic_futures(
            int(settings["symbols"]),
            int(settings["years"]),
            int(settings["seed"]),
            start=settings["start"],
        )
        days = frame["bar_label"]
        inside = (days >= pd.Timestamp(rng.start)) & (days <= pd.Timestamp(rng.end))
        return frame[inside].reset_index(drop=True)

    return Plan(
        "synthetic",
        "raw_futures_daily",
        "synthetic",
        0,
        fetch,
        {k: settings[k] for k in ("symbols", "years", "seed", "start")},
    )


PLANS: dict[str, Callable[[Mapping[str, Any], RetryPolicy], Plan]] = {
    "fred": _fred,
    "weather": _weather,
    "databento": _databento,
    "synthetic": _synthetic,
}


# --- guards ------------------------------------------------------------------------


def _table_rows(wh: Warehouse, table: str) -> int:
    try:
        return wh.table_info("market_data", table).rows
    except ZlflowError:
        return 0


def ingested_sources(wh: Warehouse, table: str) -> list[str]:
    """Sources the ingest log shows loading ``table`` (empty if never ingested)."""
    history = ingest_history(wh)
    return sorted(set(history.loc[history["table_name"] == table, "source"]))


def refuse_sample_loaded(wh: Warehouse, table: str) -> None:
    """Live rows must not merge into a table the sample loader owns (and will replace)."""
    if _table_rows(wh, table) and not ingested_sources(wh, table):
        raise SourceError(
            f"{wh.table('market_data', table)} holds rows loaded from the bundled sample; "
            "live rows would mix with them and the next sample load would replace both. "
            "Run live sources in their own experiment (--config source=live experiment=live)"
        )


def refuse_replacing_ingested(wh: Warehouse, table: str) -> None:
    """The sample loader replaces its table (CREATE OR REPLACE): never over ingested rows."""
    sources = ingested_sources(wh, table)
    if sources and _table_rows(wh, table):
        raise SourceError(
            f"{wh.table('market_data', table)} holds rows ingested from live sources "
            f"({', '.join(sources)}); loading the sample would replace them. Use another "
            "experiment for the sample, or set source: live"
        )


# --- jobs --------------------------------------------------------------------------


def run_ingest(
    warehouse: Mapping[str, Any],
    source: str,
    settings: Mapping[str, Any],
    date_range: Mapping[str, str],
    retry: Mapping[str, Any],
    raw_dir: str,
    marker: str,
    calendar: Mapping[str, Any] | None = None,
) -> None:
    """Fetch the part of ``date_range`` that ``source`` has not loaded yet, and load it.

    ``calendar`` (config ``calendar``) names the exchange calendars of the gap check."""
    plan = PLANS[source](settings, _policy(retry))
    want = DateRange.of((date_range["start"], date_range["end"]))
    with connect(warehouse) as wh:
        refuse_sample_loaded(wh, plan.table)
        rng = missing_range(
            wh, plan.table, plan.source, want.start, want.end, lookback_days=plan.lookback_days
        )
        backend = wh.backend
    record: dict[str, Any] = {
        "source": plan.source,
        "table": f"market_data.{plan.table}",
        "requested": {"start": str(want.start), "end": str(want.end)},
        "lookback_days": plan.lookback_days,
        "settings": plan.describe,
        "backend": backend,
    }
    if rng is None:
        log.info("%s: %s..%s already loaded; nothing to fetch", plan.source, want.start, want.end)
        record |= {"fetched": None, "snapshot": None, "rows": 0}
    else:
        log.info("%s: fetching %s..%s", plan.source, rng.start, rng.end)
        folder = Path(raw_dir)
        folder.mkdir(parents=True, exist_ok=True)
        frame = plan.fetch(rng, folder)  # no warehouse lock held while fetching
        snapshot = folder / f"{plan.stem}_{rng.start:%Y%m%d}_{rng.end:%Y%m%d}.parquet"
        with connect(warehouse) as wh:
            result = ingest(wh, plan.table, frame, snapshot, plan.source, rng, calendar=calendar)
        record |= {
            "fetched": {"start": str(rng.start), "end": str(rng.end)},
            "snapshot": str(snapshot),
            "rows": len(frame),
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "table_rows": result.rows,
        }
    record["time"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_json_atomic(marker, record)


def run_ingested_table(
    warehouse: Mapping[str, Any], table: str, ingests: list[str], marker: str
) -> None:
    """The marker of a raw table written by live sources: its state after their jobs."""
    summaries = []
    for path in ingests:
        payload = json.loads(Path(path).read_text())
        summaries.append({k: payload.get(k) for k in ("source", "requested", "fetched", "rows")})
    with connect(warehouse) as wh:
        try:
            info = wh.table_info("market_data", table)
        except ZlflowError:
            raise SourceError(
                f"{wh.table('market_data', table)} does not exist after ingesting "
                f"{[s['source'] for s in summaries]}; nothing was ever fetched for it"
            ) from None
        log.info(
            "%s.%s: %d rows after %d ingest job(s)",
            info.dataset,
            info.name,
            info.rows,
            len(summaries),
        )
        write_json_atomic(marker, object_marker(info, wh.backend, ingests=summaries))
