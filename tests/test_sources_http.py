"""FRED and Open-Meteo clients against a local HTTP server replaying real-format responses.

Nothing here reaches the network: pytest-httpserver listens on 127.0.0.1 and plays back
the JSON in tests/fixtures (see its README), including 429/500 sequences and cut-off
bodies. Retry delays are milliseconds except where a Retry-After header is honoured.
"""

from __future__ import annotations

import json
import logging
import socketserver
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from zlflow.errors import SourceError
from zlflow.sources import fred, openmeteo
from zlflow.sources.http import HttpClient, RetryPolicy, redact, safe_url, secret_from_env
from zlflow.sources.sample import FRED_SCHEMA, WEATHER_SCHEMA, read_fred_csv
from zlflow.sources.validate import validate_raw

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
FRED_PATH = "/fred/series/observations"
ARCHIVE_PATH = "/v1/archive"
KEY = "abcdef0123456789abcdef0123456789"  # a fake FRED-shaped key, only ever local
FAST = RetryPolicy(max_tries=3, base_delay_s=0.01, max_delay_s=0.05, timeout_s=5)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def fred_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FRED_API_KEY", KEY)
    return KEY


@pytest.fixture
def fred_client(httpserver: HTTPServer, fred_key: str) -> Any:
    with fred.FredClient(base_url=httpserver.url_for(FRED_PATH), policy=FAST) as client:
        yield client


def client_log(caplog: pytest.LogCaptureFixture) -> str:
    """What this process logged as a client (the in-process test server's access log,
    logger ``werkzeug``, is the remote side and prints the URL it received)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")


def json_response(name: str, status: int = 200, **headers: str) -> Response:
    return Response(
        fixture_bytes(name), status=status, headers=headers, content_type="application/json"
    )


# --- FRED --------------------------------------------------------------------------


# Where each row came from (file or response, row): differs between the two readers.
LINEAGE = ["source_file", "source_row"]


def test_fred_observations_parse_like_the_csv_reader(
    httpserver: HTTPServer, fred_client: fred.FredClient, tmp_path: Path
) -> None:
    httpserver.expect_request(FRED_PATH).respond_with_response(
        json_response("fred_series_observations_DGS10.json")
    )
    raw = tmp_path / "fred_DGS10_api.json"
    frame = fred_client.fetch("DGS10", date(2024, 1, 1), date(2024, 1, 12), raw_path=raw)

    assert dict(frame.dtypes.astype(str)) == {
        c: ("str" if t == "str" else t) for c, t in FRED_SCHEMA.items()
    }
    assert len(frame) == 10 and np.isnan(frame["value"].iloc[0])  # "." on New Year's Day
    assert frame.loc[frame["obs_date"] == "2024-01-12", "value"].item() == 3.96
    assert set(frame["source_file"]) == {raw.name}
    assert json.loads(raw.read_text())["count"] == 10
    validate_raw("raw_fred", frame, "fred", raw.name)

    # Same observations as the bundled CSV download of the series.
    csv = read_fred_csv(ROOT / "data/sample/fred_DGS10.csv")
    csv = csv[csv["obs_date"].between("2024-01-01", "2024-01-12")].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame.drop(columns=LINEAGE), csv.drop(columns=LINEAGE))

    ((request, _),) = httpserver.log
    assert request.args["series_id"] == "DGS10"
    assert request.args["file_type"] == "json"
    assert request.args["observation_start"] == "2024-01-01"
    assert request.args["observation_end"] == "2024-01-12"
    assert request.args["api_key"] == KEY  # sent to the server, never shown
    assert KEY not in raw.read_text()


def test_fred_pages_through_offsets(httpserver: HTTPServer, fred_key: str) -> None:
    payload = json.loads(fixture_bytes("fred_series_observations_DGS10.json"))

    def page(request: Request) -> Response:
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        body = {**payload, "offset": offset, "limit": limit}
        body["observations"] = payload["observations"][offset : offset + limit]
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(FRED_PATH).respond_with_handler(page)
    url = httpserver.url_for(FRED_PATH)
    with fred.FredClient(base_url=url, policy=FAST, page_limit=4) as client:
        frame = client.fetch("DGS10")
    assert len(frame) == 10 and frame["obs_date"].is_monotonic_increasing
    assert [r.args["offset"] for r, _ in httpserver.log] == ["0", "4", "8"]


def test_429_honours_retry_after(
    httpserver: HTTPServer, fred_client: fred.FredClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_ordered_request(FRED_PATH).respond_with_response(
        Response(
            '{"error_code":429,"error_message":"Too Many Requests."}',
            429,
            headers={"Retry-After": "1"},
            content_type="application/json",
        )
    )
    httpserver.expect_ordered_request(FRED_PATH).respond_with_response(
        json_response("fred_series_observations_DGS10.json")
    )
    started = time.monotonic()
    frame = fred_client.fetch("DGS10")
    elapsed = time.monotonic() - started

    assert len(frame) == 10 and len(httpserver.log) == 2
    assert elapsed >= 0.95, "Retry-After: 1 must override the 10 ms backoff"
    assert "FRED: HTTP 429" in caplog.text and "retry 1" in caplog.text
    assert KEY not in client_log(caplog)


def test_500_then_success(httpserver: HTTPServer, fred_client: fred.FredClient) -> None:
    httpserver.expect_ordered_request(FRED_PATH).respond_with_data("upstream error", 500)
    httpserver.expect_ordered_request(FRED_PATH).respond_with_response(
        json_response("fred_series_observations_DGS10.json")
    )
    assert len(fred_client.fetch("DGS10")) == 10
    assert [status for _, r in httpserver.log for status in [r.status_code]] == [500, 200]


def test_persistent_500_gives_a_clear_error_after_retries(
    httpserver: HTTPServer, fred_client: fred.FredClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request(FRED_PATH).respond_with_data("Internal Server Error", 500)
    with pytest.raises(SourceError) as info:
        fred_client.fetch("DGS10", date(2024, 1, 1))
    message = str(info.value)
    assert message.startswith("FRED: HTTP 500")
    assert "after 3 tries" in message and "Internal Server Error" in message
    assert f"{FRED_PATH}?series_id=DGS10" in message and "api_key=***" in message
    assert KEY not in message and info.value.__cause__ is None
    assert len(httpserver.log) == 3
    # urllib3 logged the full request line; the key inside it was redacted.
    assert "series_id=DGS10" in client_log(caplog) and KEY not in client_log(caplog)


def test_client_error_is_not_retried_and_shows_the_api_message(
    httpserver: HTTPServer, fred_client: fred.FredClient
) -> None:
    httpserver.expect_request(FRED_PATH).respond_with_response(
        json_response("fred_error_400.json", status=400)
    )
    with pytest.raises(SourceError, match=r"HTTP 400 BAD REQUEST: .*api_key is not registered"):
        fred_client.fetch("DGS10")
    assert len(httpserver.log) == 1


def test_truncated_json_body(httpserver: HTTPServer, fred_client: fred.FredClient) -> None:
    body = fixture_bytes("fred_series_observations_DGS10.json")
    httpserver.expect_request(FRED_PATH).respond_with_data(
        body[: len(body) // 2], content_type="application/json"
    )
    with pytest.raises(SourceError, match=r"FRED: invalid or truncated JSON \(611 bytes"):
        fred_client.fetch("DGS10")


class _CutOffHandler(socketserver.BaseRequestHandler):
    """Announces the whole body's Content-Length, sends a third of it and hangs up."""

    body = b""

    def handle(self) -> None:
        self.request.recv(65536)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        self.request.sendall(head.encode() + self.body[: len(self.body) // 3])


def test_transfer_cut_off_before_content_length(fred_key: str) -> None:
    _CutOffHandler.body = fixture_bytes("fred_series_observations_DGS10.json")
    with socketserver.TCPServer(("127.0.0.1", 0), _CutOffHandler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}{FRED_PATH}"
        try:
            with pytest.raises(SourceError, match=r"FRED: transfer failed, body cut off") as info:
                fred.FredClient(base_url=url, policy=FAST).fetch("DGS10")
        finally:
            server.shutdown()
    assert KEY not in str(info.value)


def test_unreachable_server(fred_key: str) -> None:
    # Port 9 (discard) on loopback: nothing listens there in the test environment.
    client = fred.FredClient(base_url="http://127.0.0.1:9" + FRED_PATH, policy=FAST)
    with pytest.raises(SourceError, match=r"FRED: cannot reach the server after 3 tries") as info:
        client.fetch("DGS10")
    assert KEY not in str(info.value)


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRED_API_KEY", raising=False)
    with pytest.raises(SourceError, match="FRED_API_KEY is not set"):
        fred.FredClient(base_url="http://127.0.0.1:9/").fetch("DGS10")


def test_unparseable_fred_value_is_named() -> None:
    payload = json.loads(fixture_bytes("fred_series_observations_DGS10.json"))
    payload["observations"][3]["value"] = "n/a"
    with pytest.raises(SourceError, match=r"FRED DGS10 \(t\.json\): .*2024-01-04: value 'n/a'"):
        fred.parse_observations("DGS10", payload, "t.json")


# --- secrets -----------------------------------------------------------------------


def test_secrets_are_redacted_in_urls_and_messages(fred_key: str) -> None:
    url = safe_url("https://h/x?series_id=A&api_key=" + KEY, {"token": "t0ps3cret!"})
    assert url == "https://h/x?series_id=A&api_key=***&token=***"
    assert secret_from_env("FRED_API_KEY", "FRED") == KEY  # reading it registers it
    assert redact(f"echoed key={KEY}.") == "echoed key=***."


def test_secret_never_logged_even_at_debug(
    httpserver: HTTPServer, fred_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_ordered_request(FRED_PATH).respond_with_data("busy", 503)
    httpserver.expect_ordered_request(FRED_PATH).respond_with_data("{truncated", 200)
    client = HttpClient("FRED", FAST)
    with pytest.raises(SourceError) as info:
        client.get_json(httpserver.url_for(FRED_PATH), {"series_id": "X", "api_key": KEY})
    logged = client_log(caplog)
    assert "api_key=***" in logged and "Incremented Retry" in logged  # urllib3 DEBUG lines
    assert KEY not in logged and KEY not in str(info.value)


# --- Open-Meteo --------------------------------------------------------------------


def test_openmeteo_archive_to_raw_weather(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(ARCHIVE_PATH).respond_with_response(
        json_response("openmeteo_archive_iowa_central.json")
    )
    iowa = openmeteo.DEFAULT_LOCATIONS[0]
    url = httpserver.url_for(ARCHIVE_PATH)
    with openmeteo.OpenMeteoClient(base_url=url, policy=FAST) as client:
        frame = client.fetch(date(2012, 7, 1), date(2012, 7, 10), [iowa], raw_dir=tmp_path)

    assert list(frame.columns) == list(WEATHER_SCHEMA)
    assert set(frame["station_id"]) == {"iowa_central"} and set(frame["region"]) == {"iowa"}
    assert len(frame) == 10 and frame["tmax_c"].isna().sum() == 1  # the null day
    assert frame.loc[frame["obs_date"] == "2012-07-07", "tmax_c"].item() == 36.7
    assert (frame["prcp_mm"] == 0).all()  # the 2012 drought
    assert frame["source_file"].iloc[0] == "openmeteo_iowa_central_20120701_20120710.json"
    validate_raw("raw_weather", frame, "openmeteo", "archive")

    ((request, _),) = httpserver.log
    assert request.args["latitude"] == str(iowa.latitude)
    assert request.args["longitude"] == str(iowa.longitude)
    assert request.args["start_date"] == "2012-07-01" and request.args["end_date"] == "2012-07-10"
    assert request.args["daily"] == "temperature_2m_max,temperature_2m_min,precipitation_sum"
    assert request.args["timezone"] == "auto"


def test_openmeteo_rejects_other_units_and_ragged_arrays() -> None:
    payload = json.loads(fixture_bytes("openmeteo_archive_iowa_central.json"))
    iowa = openmeteo.DEFAULT_LOCATIONS[0]
    fahrenheit = {**payload, "daily_units": {**payload["daily_units"], "temperature_2m_max": "°F"}}
    with pytest.raises(SourceError, match=r"unexpected units \{'temperature_2m_max': '°F'\}"):
        openmeteo.parse_archive(iowa, fahrenheit, "x.json")
    ragged = json.loads(json.dumps(payload))
    ragged["daily"]["precipitation_sum"] = ragged["daily"]["precipitation_sum"][:7]
    with pytest.raises(SourceError, match=r"differ in length .*'precipitation_sum': 7"):
        openmeteo.parse_archive(iowa, ragged, "x.json")


def test_openmeteo_api_error_is_reported(httpserver: HTTPServer) -> None:
    reason = "Parameter 'start_date' is out of allowed range from 1940-01-01 to 2026-11-26"
    httpserver.expect_request(ARCHIVE_PATH).respond_with_json(
        {"error": True, "reason": reason}, status=400
    )
    url = httpserver.url_for(ARCHIVE_PATH)
    with (
        openmeteo.OpenMeteoClient(base_url=url, policy=FAST) as client,
        pytest.raises(SourceError, match=r"Open-Meteo: HTTP 400 .*out of allowed range"),
    ):
        client.fetch(date(1900, 1, 1), date(1900, 1, 2))
