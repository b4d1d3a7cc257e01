"""CME Globex daily bars from Databento's Historical API, kept as DBN and parsed to rows.

Downloads go through the official ``databento`` client: the request's cost is asked
for and logged first (and refused above ``max_cost_usd``), then the DBN stream is
written beside its target and renamed, so the raw snapshot is always a whole file.
Transient failures (5xx, 429 honouring Retry-After, connection errors) are retried
with tenacity; the key comes from ``DATABENTO_API_KEY`` only and is redacted.

Parsing: prices are int64 fixed-point in units of 1e-9 (INT64_MAX = undefined).
``ohlcv-1d`` bars start at 00:00 UTC (``ts_event``), and the UTC day D holds the whole
CBOT grain session of trade date D (19:00 CT on D-1 is 00:00/01:00 UTC on D), so the
bar's UTC date is its trade date: ``label_kind = 'trade_date'``. (For CME products
that open at 17:00 CT, the first hour or two of the session fall on the UTC day before.)
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import databento as db
import numpy as np
import pandas as pd
import requests
from databento.common.error import BentoClientError, BentoError, BentoServerError
from databento_dbn import DBNError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from zlflow.errors import SourceError
from zlflow.sources.http import RetryPolicy, redact, redact_logger, secret_from_env
from zlflow.sources.validate import cast_to_table

log = logging.getLogger(__name__)
redact_logger(__name__)

DATASET: Final = "GLBX.MDP3"
SCHEMA: Final = "ohlcv-1d"
API_KEY_ENV: Final = "DATABENTO_API_KEY"
UNDEF_PRICE: Final = np.iinfo(np.int64).max
PRICE_SCALE: Final = 1_000_000_000  # fixed-point: 1 unit = 1e-9
_NS_PER_DAY: Final = 86_400 * 1_000_000_000
_PRICES: Final = ("open", "high", "low", "close")

T = TypeVar("T")


@dataclass(frozen=True)
class BarRequest:
    """What to download: continuous symbols such as ``ZL.c.0`` over [start, end] days."""

    symbols: tuple[str, ...]
    start: date
    end: date  # inclusive; the API's end is exclusive, so end + 1 day is sent
    dataset: str = DATASET
    schema: str = SCHEMA
    stype_in: str = "continuous"

    def api_args(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "symbols": list(self.symbols),
            "schema": self.schema,
            "stype_in": self.stype_in,
            "start": self.start.isoformat(),
            "end": (self.end + timedelta(days=1)).isoformat(),
        }

    def describe(self) -> str:
        return (
            f"{self.dataset} {self.schema} {','.join(self.symbols)} ({self.stype_in}) "
            f"{self.start}..{self.end}"
        )


# --- download ----------------------------------------------------------------------


def _transient(err: BaseException) -> bool:
    if isinstance(err, BentoServerError):
        return True
    if isinstance(err, BentoClientError):
        return err.http_status in (408, 429)
    return isinstance(err, requests.ConnectionError | requests.Timeout)


def _retry_after(err: BaseException | None) -> float | None:
    headers = getattr(err, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _call(what: str, fn: Callable[[], T], policy: RetryPolicy) -> T:
    """Run one client call with retries; a final failure is a redacted SourceError."""

    def wait(state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        after = _retry_after(err)
        if after is not None:
            return min(after, float(policy.max_retry_after_s))
        return float(min(policy.base_delay_s * 2 ** (state.attempt_number - 1), policy.max_delay_s))

    def before_sleep(state: RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        log.warning(
            "Databento %s failed (%s); retry %d of %d",
            what,
            redact(f"{type(err).__name__}: {err}"),
            state.attempt_number,
            policy.max_tries - 1,
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_tries),
        wait=wait,
        retry=retry_if_exception(_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except (BentoError, requests.RequestException) as err:
        tries = f" after {policy.max_tries} tries" if _transient(err) else ""
        raise SourceError(redact(f"Databento: {what} failed{tries}: {err}")) from None
    except ValueError as err:  # the client validates arguments (symbols, stype, dates)
        raise SourceError(redact(f"Databento: invalid {what} request: {err}")) from None


def make_client(gateway: str | None = None) -> db.Historical:
    """A Historical client keyed from ``DATABENTO_API_KEY`` (``gateway`` for tests)."""
    key = secret_from_env(API_KEY_ENV, "Databento")
    if gateway is None:
        return db.Historical(key=key)
    return db.Historical(key=key, gateway=gateway)


def estimate_cost(client: db.Historical, request: BarRequest, policy: RetryPolicy) -> float:
    """The request's cost in USD as the API quotes it, logged before any download."""
    cost = _call(
        "metadata.get_cost", lambda: client.metadata.get_cost(**request.api_args()), policy
    )
    try:
        usd = float(cost)
    except (TypeError, ValueError):
        raise SourceError(f"Databento: get_cost returned {cost!r}, not a number") from None
    log.info("Databento cost estimate for %s: USD %.4f", request.describe(), usd)
    return usd


def download_bars(
    request: BarRequest,
    path: str | Path,
    *,
    max_cost_usd: float | None = None,
    gateway: str | None = None,
    policy: RetryPolicy | None = None,
) -> Path:
    """Download ``request`` to ``path`` (DBN, zstd) after logging and checking its cost.

    The DBN bytes go to a hidden file beside ``path`` that is renamed on success, so a
    failed or interrupted download leaves any previous snapshot untouched.
    """
    policy = policy or RetryPolicy()
    path = Path(path)
    client = make_client(gateway)
    cost = estimate_cost(client, request, policy)
    if max_cost_usd is not None and cost > max_cost_usd:
        raise SourceError(
            f"Databento: {request.describe()} would cost USD {cost:.2f}, above "
            f"max_cost_usd {max_cost_usd:.2f}; narrow the request or raise the limit"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")

    def fetch() -> None:
        # Streamed into memory (daily bars are small), then written as received: with
        # ``path=`` the client leaves its file handle open.
        store = client.timeseries.get_range(**request.api_args())
        partial.unlink(missing_ok=True)
        store.to_file(partial, mode="x")

    try:
        _call("timeseries.get_range", fetch, policy)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    log.info("Databento: saved %s (%d bytes)", path, path.stat().st_size)
    return path


# --- parse -------------------------------------------------------------------------


def _open(path: Path) -> db.DBNStore:
    if not path.is_file():
        raise SourceError(f"{path}: DBN file not found")
    try:
        # Read the bytes ourselves: from_file leaves its file handle open (a ResourceWarning).
        return db.DBNStore.from_bytes(path.read_bytes())
    except (BentoError, DBNError, ValueError, OSError) as err:
        raise SourceError(f"{path}: not a readable DBN file: {err}") from None


def _symbol_intervals(meta: Any, path: Path) -> pd.DataFrame:
    """Requested symbol per instrument_id and [start, end) date, from the DBN mappings."""
    rows = [
        (requested, int(interval["symbol"]), interval["start_date"], interval["end_date"])
        for requested, intervals in meta.mappings.items()
        for interval in intervals
        if str(interval["symbol"]).isdigit()
    ]
    if not rows:
        raise SourceError(
            f"{path}: no symbol mappings to instrument ids (stype_out {meta.stype_out}); "
            "request with stype_out='instrument_id'"
        )
    frame = pd.DataFrame(rows, columns=["requested", "instrument_id", "start", "end"])
    frame["start"] = pd.to_datetime(frame["start"]).astype("datetime64[ns]")
    frame["end"] = pd.to_datetime(frame["end"]).astype("datetime64[ns]")
    return frame


def read_ohlcv_dbn(path: str | Path, symbols: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Parse a daily-bar DBN file (``.dbn`` or ``.dbn.zst``) into ``raw_futures_daily`` rows.

    Each record is labelled with the requested symbol it was mapped from on its day
    (``ZL.c.0`` follows the front contract across rolls), renamed by ``symbols``
    (e.g. ``{"ZL.c.0": "ZL"}``). A record no mapping explains is an error, as is any
    schema other than ``ohlcv-1d`` or a bar that does not start at 00:00 UTC.
    """
    path = Path(path)
    store = _open(path)
    meta = store.metadata
    if str(meta.schema) != SCHEMA:
        raise SourceError(f"{path}: schema is {meta.schema}, expected {SCHEMA} (daily bars)")
    records = store.to_ndarray()
    bars = pd.DataFrame(
        {
            "source_row": np.arange(len(records), dtype="int64"),
            "instrument_id": records["instrument_id"].astype("int64"),
            "ts_event": records["ts_event"].astype("int64"),
            **{c: records[c] for c in _PRICES},
            "volume": records["volume"].astype("float64"),
        }
    )
    off_midnight = np.flatnonzero((bars["ts_event"] % _NS_PER_DAY).to_numpy())
    if off_midnight.size:
        shown = [str(pd.Timestamp(t, unit="ns")) for t in bars["ts_event"].iloc[off_midnight[:5]]]
        raise SourceError(f"{path}: daily bars must start at 00:00 UTC; found {shown}")
    bars["bar_label"] = pd.to_datetime(bars["ts_event"], unit="ns")
    for column in _PRICES:
        raw = bars[column].to_numpy()
        bars[column] = np.where(raw == UNDEF_PRICE, np.nan, raw / PRICE_SCALE)

    mapped = bars.merge(_symbol_intervals(meta, path), on="instrument_id", how="left")
    inside = (mapped["bar_label"] >= mapped["start"]) & (mapped["bar_label"] < mapped["end"])
    mapped = mapped[inside]
    unmapped = bars[~bars["source_row"].isin(mapped["source_row"])]
    if len(unmapped):
        shown = unmapped[["source_row", "instrument_id", "bar_label"]].head(10).to_string()
        raise SourceError(f"{path}: {len(unmapped)} record(s) match no symbol mapping:\n{shown}")
    rename = dict(symbols or {})
    mapped = mapped.assign(
        symbol=mapped["requested"].map(lambda s: rename.get(s, s)),
        source="databento",
        label_kind="trade_date",
        source_file=path.name,
    )
    return cast_to_table(mapped, "raw_futures_daily")
