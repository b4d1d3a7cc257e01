"""Local replay servers for Databento, FRED and Open-Meteo, serving the bundled sample.

The servers answer in each API's recorded shape (tests/fixtures holds one recorded
response of each) with the real observations of ``data/sample/``, cut at a simulated
``today`` that a test moves forward one trading day at a time:

- Databento (``timeseries.get_range``, over TLS as the client requires): the sample's
  futures bars as DBN daily bars (``ohlcv-1d``, zstd), one instrument per continuous
  symbol, bars dated by CME trade date, up to ``today`` (an evening run).
- FRED (``series/observations``): the sample's series, observations dated before
  ``today`` (a day's value is published the next day).
- Open-Meteo (``archive``): the sample's Milwaukee GHCN station for any coordinates
  (the sample has no station in the growing regions after 2014), dates up to ``today``;
  later days asked for are null, as the archive leaves them until it has them.

Every request is kept in ``requests`` (path and parameters) so tests can see what each
simulated day fetched.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import databento_dbn as dbn
import numpy as np
import pandas as pd
import trustme
import zstandard
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from zlflow.calendar import trading_days
from zlflow.sources.sample import read_table

FRED_PATH = "/fred/series/observations"
ARCHIVE_PATH = "/v1/archive"
WEATHER_STATION = "USW00014839"  # Milwaukee: GHCN daily through 2026
INSTRUMENT_BASE = 1000
PRICE_SCALE = 1_000_000_000


@dataclass(frozen=True)
class _Interval:
    start_date: date
    end_date: date
    symbol: str


@dataclass(frozen=True)
class _Mapping:
    raw_symbol: str
    intervals: list[_Interval]


def trade_date_bars(futures: pd.DataFrame, exchange: str = "CBOT_Agriculture") -> pd.DataFrame:
    """The sample's raw futures bars as one bar per (symbol, CME trade date).

    TradingView labels a bar with its session's open in Sao Paulo time; six hours later
    is inside the trade date or a closed day before it (as staging SQL maps it).
    """
    shift = np.where(futures["label_kind"] == "session_open_sao_paulo", 6, 0)
    label = (futures["bar_label"] + pd.to_timedelta(shift, unit="h")).dt.normalize()
    sessions = trading_days(exchange, "2000-01-01", "2030-12-31")
    position = sessions.searchsorted(label.to_numpy())
    bars = futures.assign(trade_date=sessions[np.minimum(position, len(sessions) - 1)])
    bars = bars.sort_values(["symbol", "bar_label"])
    merged = bars.groupby(["symbol", "trade_date"], as_index=False).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    merged = merged.dropna(subset=["open", "high", "low", "close"])
    # Yahoo's float32 closes can fall outside high/low; exchange bars never do.
    merged["high"] = merged[["open", "high", "low", "close"]].max(axis=1)
    merged["low"] = merged[["open", "high", "low", "close"]].min(axis=1)
    return merged


def dbn_stream(bars: pd.DataFrame, symbols: list[str], start: date, end: date) -> bytes:
    """A zstd DBN ``ohlcv-1d`` stream of ``bars`` for continuous ``symbols`` (``ZL.c.0``)."""
    stamp = pd.Timestamp(start, tz="UTC").value
    records = []
    mappings = []
    for symbol in symbols:
        root = symbol.split(".")[0]
        instrument = INSTRUMENT_BASE + sum(map(ord, root))
        rows = bars[bars["symbol"] == root]
        # A mapping interval is [start, end): it covers the last day through the day after.
        interval = _Interval(start, end + timedelta(days=1), str(instrument))
        mappings.append(_Mapping(symbol, [interval]))
        for row in rows.itertuples():
            records.append(
                (
                    pd.Timestamp(row.trade_date, tz="UTC").value,
                    dbn.OHLCVMsg(
                        dbn.RType.OHLCV_1D,
                        1,
                        instrument,
                        pd.Timestamp(row.trade_date, tz="UTC").value,
                        round(row.open * PRICE_SCALE),
                        round(row.high * PRICE_SCALE),
                        round(row.low * PRICE_SCALE),
                        round(row.close * PRICE_SCALE),
                        int(row.volume) if np.isfinite(row.volume) else 0,
                    ),
                )
            )
    metadata = dbn.Metadata(
        dataset="GLBX.MDP3",
        start=stamp,
        stype_in=dbn.SType.CONTINUOUS,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.OHLCV_1D,
        symbols=symbols,
        partial=[],
        not_found=[],
        mappings=mappings,
        end=pd.Timestamp(end + timedelta(days=1), tz="UTC").value,
    )
    body = metadata.encode() + b"".join(bytes(r) for _, r in sorted(records, key=lambda x: x[0]))
    return zstandard.ZstdCompressor().compress(body)


@dataclass
class Replay:
    """The three servers over the sample, up to ``today``; start with ``serving``."""

    sample_dir: Path
    today: date = date(2024, 6, 14)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bars = trade_date_bars(read_table(self.sample_dir, "raw_futures_daily"))
        self.fred = read_table(self.sample_dir, "raw_fred")
        weather = read_table(self.sample_dir, "raw_weather")
        self.weather = weather[weather["station_id"] == WEATHER_STATION].set_index("obs_date")

    def fetched(self, path: str) -> list[dict[str, str]]:
        return [args for p, args in self.requests if p == path]

    # --- handlers ------------------------------------------------------------------

    def _databento_range(self, request: Request) -> Response:
        form = dict(request.form)
        self.requests.append((request.path, form))
        start = date.fromisoformat(form["start"][:10])
        end = date.fromisoformat(form["end"][:10]) - timedelta(days=1)  # the API's is exclusive
        last = min(end, self.today)
        days = self.bars["trade_date"].dt.date
        bars = self.bars[(days >= start) & (days <= last)]
        symbols = form["symbols"].split(",")
        stream = dbn_stream(bars, symbols, start, max(start, last))
        return Response(stream, content_type="application/octet-stream")

    def _fred(self, request: Request) -> Response:
        args = dict(request.args)
        self.requests.append((request.path, args))
        start = args.get("observation_start", "1776-07-04")
        end = min(args.get("observation_end", "9999-12-31"), str(self.today - timedelta(days=1)))
        rows = self.fred[self.fred["series_id"] == args["series_id"]]
        days = rows["obs_date"].dt.strftime("%Y-%m-%d")
        rows = rows[(days >= start) & (days <= end)]
        observations = [
            {
                "realtime_start": str(self.today),
                "realtime_end": str(self.today),
                "date": day,
                "value": "." if np.isnan(value) else repr(float(value)),
            }
            for day, value in zip(days[rows.index], rows["value"], strict=True)
        ]
        offset, limit = int(args.get("offset", 0)), int(args["limit"])
        body = {
            "realtime_start": str(self.today),
            "realtime_end": str(self.today),
            "observation_start": start,
            "observation_end": args.get("observation_end", "9999-12-31"),
            "units": "lin",
            "output_type": 1,
            "file_type": "json",
            "order_by": "observation_date",
            "sort_order": "asc",
            "count": len(observations),
            "offset": offset,
            "limit": limit,
            "observations": observations[offset : offset + limit],
        }
        return Response(json.dumps(body), content_type="application/json")

    def _archive(self, request: Request) -> Response:
        args = dict(request.args)
        self.requests.append((request.path, args))
        days = pd.date_range(args["start_date"], args["end_date"], freq="D")
        known = self.weather.reindex(days)
        known[days.date > self.today] = np.nan

        def values(column: str) -> list[Any]:
            return [None if np.isnan(v) else float(v) for v in known[column]]

        body = {
            "latitude": float(args["latitude"]),
            "longitude": float(args["longitude"]),
            "timezone": args.get("timezone", "GMT"),
            "daily_units": {
                "time": "iso8601",
                "temperature_2m_max": "°C",
                "temperature_2m_min": "°C",
                "precipitation_sum": "mm",
            },
            "daily": {
                "time": [d.strftime("%Y-%m-%d") for d in days],
                "temperature_2m_max": values("tmax_c"),
                "temperature_2m_min": values("tmin_c"),
                "precipitation_sum": values("prcp_mm"),
            },
        }
        return Response(json.dumps(body), content_type="application/json")

    # --- servers -------------------------------------------------------------------

    @contextmanager
    def serving(self, ca_bundle: Path) -> Iterator[dict[str, str]]:
        """Start the servers; yield the config URLs (and write the CA to ``ca_bundle``)."""
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        ca.cert_pem.write_to_path(str(ca_bundle))
        databento = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
        databento.expect_request("/v0/metadata.get_cost", method="POST").respond_with_json(0.0)
        databento.expect_request("/v0/timeseries.get_range", method="POST").respond_with_handler(
            self._databento_range
        )
        plain = HTTPServer(host="127.0.0.1", port=0)
        plain.expect_request(FRED_PATH).respond_with_handler(self._fred)
        plain.expect_request(ARCHIVE_PATH).respond_with_handler(self._archive)
        databento.start()
        plain.start()
        try:
            yield {
                "databento": f"https://127.0.0.1:{databento.port}",
                "fred": plain.url_for(FRED_PATH),
                "weather": plain.url_for(ARCHIVE_PATH),
            }
        finally:
            for server in (databento, plain):
                server.clear()
                server.stop()
