"""Databento: parse the real DBN fixtures; drive the official client against a local server.

The ``databento`` client only accepts ``https`` gateways, so the download tests run a
TLS server on 127.0.0.1 with a throwaway CA (trustme) that requests trusts through
``REQUESTS_CA_BUNDLE``. The server answers ``metadata.get_cost`` and
``timeseries.get_range`` the way the API does (a JSON number; a zstd DBN stream), so
the client code runs unmodified up to the socket.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import databento as db
import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Response

from zlflow.errors import SourceError
from zlflow.sources.databento_source import (
    BarRequest,
    download_bars,
    read_ohlcv_dbn,
)
from zlflow.sources.http import RetryPolicy
from zlflow.sources.sample import FUTURES_SCHEMA
from zlflow.sources.validate import validate_raw

FIXTURES = Path(__file__).parent / "fixtures"
DAILY = FIXTURES / "databento_glbx_ohlcv-1d.dbn.zst"
HOURLY = FIXTURES / "databento_glbx_ohlcv-1h.dbn.zst"
DEFINITION = FIXTURES / "databento_glbx_definition.dbn.zst"
KEY = "db-TestKeyOnly0123456789abcdefABCD"  # fake, shaped like a Databento key
COST_PATH = "/v0/metadata.get_cost"
RANGE_PATH = "/v0/timeseries.get_range"
FAST = RetryPolicy(max_tries=3, base_delay_s=0.01, max_delay_s=0.05)
REQUEST = BarRequest(symbols=("ZL.c.0",), start=date(2020, 12, 28), end=date(2020, 12, 28))


# --- parsing the real fixtures -----------------------------------------------------


def test_daily_fixture_metadata() -> None:
    meta = db.DBNStore.from_bytes(DAILY.read_bytes()).metadata
    assert meta.version == 3
    assert meta.dataset == "GLBX.MDP3" and str(meta.schema) == "ohlcv-1d"
    assert list(meta.symbols) == ["ESH1"] and str(meta.stype_in) == "raw_symbol"


def test_daily_bar_parses_to_raw_futures_daily() -> None:
    frame = read_ohlcv_dbn(DAILY, symbols={"ESH1": "ES"})
    assert list(frame.columns) == list(FUTURES_SCHEMA)
    assert len(frame) == 1
    bar = frame.iloc[0]
    assert bar["symbol"] == "ES" and bar["source"] == "databento"
    assert bar["label_kind"] == "trade_date"
    assert str(bar["bar_label"]) == "2020-12-28 00:00:00"
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (
        3702.75,
        3735.00,
        3697.25,
        3735.00,
    )
    assert bar["volume"] == 718174
    assert bar["source_file"] == DAILY.name and bar["source_row"] == 0
    validate_raw("raw_futures_daily", frame, "databento", DAILY.name)


def test_symbol_defaults_to_the_requested_one() -> None:
    assert read_ohlcv_dbn(DAILY)["symbol"].tolist() == ["ESH1"]


@pytest.mark.parametrize(("path", "schema"), [(HOURLY, "ohlcv-1h"), (DEFINITION, "definition")])
def test_other_schemas_are_rejected(path: Path, schema: str) -> None:
    with pytest.raises(SourceError, match=f"schema is {schema}, expected ohlcv-1d"):
        read_ohlcv_dbn(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="DBN file not found"):
        read_ohlcv_dbn(tmp_path / "absent.dbn.zst")
    cut = tmp_path / "cut.dbn.zst"
    cut.write_bytes(DAILY.read_bytes()[:60])
    with pytest.raises(SourceError, match=r"cut\.dbn\.zst: not a readable DBN file"):
        read_ohlcv_dbn(cut)


# --- the download path, real client against a local TLS server -----------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HTTPServer, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server, bundle
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def gateway(
    tls_server: tuple[HTTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[HTTPServer, str]]:
    server, bundle = tls_server
    server.clear()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("DATABENTO_API_KEY", KEY)
    yield server, f"https://127.0.0.1:{server.port}"
    server.clear()


def dbn_response() -> Response:
    return Response(DAILY.read_bytes(), content_type="application/octet-stream")


def test_download_logs_cost_then_keeps_the_dbn(
    gateway: tuple[HTTPServer, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, url = gateway
    caplog.set_level(logging.DEBUG)
    server.expect_ordered_request(COST_PATH, method="POST").respond_with_json(0.0123)
    server.expect_ordered_request(RANGE_PATH, method="POST").respond_with_response(dbn_response())
    target = tmp_path / "raw" / "zl_ohlcv-1d.dbn.zst"

    saved = download_bars(REQUEST, target, gateway=url, max_cost_usd=1.0, policy=FAST)

    assert saved == target and target.read_bytes() == DAILY.read_bytes()
    assert not list(target.parent.glob(".*.part"))
    cost_req, range_req = (request for request, _ in server.log)
    for request in (cost_req, range_req):
        user, _, _ = base64.b64decode(request.headers["Authorization"].split()[1]).partition(b":")
        assert user.decode() == KEY  # basic auth, key as user name
    form = range_req.form
    assert form["dataset"] == "GLBX.MDP3" and form["schema"] == "ohlcv-1d"
    assert form["symbols"] == "ZL.c.0" and form["stype_in"] == "continuous"
    assert form["start"].startswith("2020-12-28") and form["end"].startswith("2020-12-29")
    assert form["encoding"] == "dbn" and form["compression"] == "zstd"
    assert "Databento cost estimate for GLBX.MDP3 ohlcv-1d ZL.c.0" in caplog.text
    assert "USD 0.0123" in caplog.text
    assert caplog.text.index("cost estimate") < caplog.text.index("saved")
    assert KEY not in caplog.text
    assert read_ohlcv_dbn(target)["close"].tolist() == [3735.0]


def test_cost_above_limit_downloads_nothing(
    gateway: tuple[HTTPServer, str], tmp_path: Path
) -> None:
    server, url = gateway
    server.expect_request(COST_PATH, method="POST").respond_with_json(12.5)
    target = tmp_path / "zl.dbn.zst"
    with pytest.raises(SourceError, match=r"would cost USD 12\.50, above max_cost_usd 5\.00"):
        download_bars(REQUEST, target, gateway=url, max_cost_usd=5.0, policy=FAST)
    assert [r.path for r, _ in server.log] == [COST_PATH] and not target.exists()


def test_transient_errors_are_retried(
    gateway: tuple[HTTPServer, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, url = gateway
    server.expect_ordered_request(COST_PATH).respond_with_json(
        {"detail": "Too many requests"}, status=429, headers={"Retry-After": "0"}
    )
    server.expect_ordered_request(COST_PATH).respond_with_json(0.5)
    server.expect_ordered_request(RANGE_PATH).respond_with_json({"detail": "busy"}, status=503)
    server.expect_ordered_request(RANGE_PATH).respond_with_response(dbn_response())
    target = tmp_path / "zl.dbn.zst"
    download_bars(REQUEST, target, gateway=url, policy=FAST)
    assert target.read_bytes() == DAILY.read_bytes()
    assert [r.status_code for _, r in server.log] == [429, 200, 503, 200]
    assert caplog.text.count("retry 1 of 2") == 2 and KEY not in caplog.text


def test_persistent_failure_keeps_the_previous_snapshot(
    gateway: tuple[HTTPServer, str], tmp_path: Path
) -> None:
    server, url = gateway
    server.expect_request(COST_PATH).respond_with_json(0.5)
    server.expect_request(RANGE_PATH).respond_with_json({"detail": "Gateway error"}, status=502)
    target = tmp_path / "zl.dbn.zst"
    target.write_bytes(b"previous snapshot")
    with pytest.raises(SourceError, match=r"timeseries\.get_range failed after 3 tries") as info:
        download_bars(REQUEST, target, gateway=url, policy=FAST)
    assert "502" in str(info.value) and KEY not in str(info.value)
    assert target.read_bytes() == b"previous snapshot"
    assert not list(tmp_path.glob(".*.part"))
    assert len([r for r, _ in server.log if r.path == RANGE_PATH]) == 3


def test_client_error_is_not_retried(gateway: tuple[HTTPServer, str], tmp_path: Path) -> None:
    server, url = gateway
    server.expect_request(COST_PATH).respond_with_json(
        {"detail": "Invalid symbol 'ZL.x.0'"}, status=422
    )
    with pytest.raises(SourceError, match=r"metadata.get_cost failed: .*Invalid symbol"):
        download_bars(REQUEST, tmp_path / "zl.dbn.zst", gateway=url, policy=FAST)
    assert len(server.log) == 1


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABENTO_API_KEY", raising=False)
    with pytest.raises(SourceError, match="DATABENTO_API_KEY is not set"):
        download_bars(REQUEST, tmp_path / "x.dbn.zst", policy=FAST)
