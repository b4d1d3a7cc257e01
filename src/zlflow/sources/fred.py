"""FRED macro series from the St. Louis Fed API, in the ``raw_fred`` schema.

The API returns the latest vintage of each observation as text, with ``.`` for a
missing value; it is parsed here into the same frame ``sample.read_fred_csv`` makes
from FRED's CSV downloads (whose three dialects stay in ``sample``, re-exported here),
so both paths load the same table. The key comes from ``FRED_API_KEY`` only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from zlflow.errors import SourceError
from zlflow.markers import write_json_atomic
from zlflow.sources.http import HttpClient, RetryPolicy, secret_from_env
from zlflow.sources.sample import read_fred_csv, read_fred_many
from zlflow.sources.validate import cast_to_table

__all__ = ["FRED_URL", "FredClient", "parse_observations", "read_fred_csv", "read_fred_many"]

FRED_URL: Final = "https://api.stlouisfed.org/fred/series/observations"
API_KEY_ENV: Final = "FRED_API_KEY"
MISSING: Final = "."
PAGE_LIMIT: Final = 100_000  # the API's maximum page size


def parse_observations(series_id: str, payload: Any, source_file: str) -> pd.DataFrame:
    """Turn one observations response into ``raw_fred`` rows (``.`` -> NaN).

    Anything else that is not a number is an error naming the series and date: a
    silently dropped value would look like a holiday.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("observations"), list):
        keys = sorted(payload) if isinstance(payload, Mapping) else type(payload).__name__
        raise SourceError(f"FRED {series_id}: response has no 'observations' list (got {keys})")
    rows = payload["observations"]
    dates, values, bad = [], [], []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or "date" not in row or "value" not in row:
            bad.append(f"observation {i}: {row!r}")
            continue
        text = str(row["value"]).strip()
        try:
            value = math.nan if text == MISSING else float(text)
        except ValueError:
            bad.append(f"{row['date']}: value {text!r}")
            continue
        if math.isinf(value) or (math.isnan(value) and text != MISSING):
            bad.append(f"{row['date']}: value {text!r}")
            continue
        dates.append(row["date"])
        values.append(value)
    parsed = pd.to_datetime(pd.Series(dates, dtype="str"), format="%Y-%m-%d", errors="coerce")
    bad += [
        f"observation date {d!r}" for d, ok in zip(dates, parsed.notna(), strict=True) if not ok
    ]
    if bad:
        shown = "; ".join(bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise SourceError(f"FRED {series_id} ({source_file}): unparseable observations: {shown}")
    frame = pd.DataFrame(
        {
            "series_id": series_id,
            "obs_date": parsed,
            "value": values,
            "source_file": source_file,
            "source_row": np.arange(len(parsed), dtype="int64"),  # the observation's position
        }
    )
    return cast_to_table(frame, "raw_fred")


class FredClient:
    """Fetch ``series/observations`` for one series at a time (one request per page)."""

    def __init__(
        self,
        base_url: str = FRED_URL,
        policy: RetryPolicy | None = None,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        self.base_url = base_url
        self.page_limit = page_limit
        self.http = HttpClient("FRED", policy)

    def __enter__(self) -> FredClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def fetch_json(
        self, series_id: str, start: date | None = None, end: date | None = None
    ) -> dict[str, Any]:
        """All observations of ``series_id`` in [start, end] as one FRED response dict."""
        key = secret_from_env(API_KEY_ENV, "FRED")
        params: dict[str, Any] = {
            "series_id": series_id,
            "api_key": key,
            "file_type": "json",
            "limit": self.page_limit,
        }
        if start is not None:
            params["observation_start"] = f"{start:%Y-%m-%d}"
        if end is not None:
            params["observation_end"] = f"{end:%Y-%m-%d}"
        observations: list[Any] = []
        first: dict[str, Any] | None = None
        while True:
            page = self.http.get_json(self.base_url, {**params, "offset": len(observations)})
            if not isinstance(page, dict) or not isinstance(page.get("observations"), list):
                got = sorted(page) if isinstance(page, dict) else type(page).__name__
                raise SourceError(f"FRED {series_id}: response has no 'observations' (got {got})")
            first = first or page
            observations += page["observations"]
            count = int(page.get("count", len(observations)))
            if not page["observations"] or len(observations) >= count:
                break
        return {**first, "offset": 0, "observations": observations}

    def fetch(
        self,
        series_id: str,
        start: date | None = None,
        end: date | None = None,
        raw_path: str | Path | None = None,
    ) -> pd.DataFrame:
        """Observations of one series as ``raw_fred`` rows.

        With ``raw_path`` the merged JSON response is kept there (atomically) as the raw
        snapshot and named in ``source_file``; it never contains the API key.
        """
        payload = self.fetch_json(series_id, start, end)
        source_file = f"fred_api:{series_id}"
        if raw_path is not None:
            write_json_atomic(raw_path, payload)
            source_file = Path(raw_path).name
        return parse_observations(series_id, payload, source_file)
