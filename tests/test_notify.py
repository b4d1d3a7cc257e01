"""Alert delivery against real local endpoints: an HTTP server (pytest-httpserver) for the
webhook, an SMTP server (aiosmtpd) for e-mail, the real DuckDB warehouse for the ledger,
and the BigQuery emulator for the same ledger on BigQuery."""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pytest_httpserver import HTTPServer
from workflow_tools import SNAKEMAKE, copy_workflow

from zlflow.errors import ConfigError, ZlflowError
from zlflow.notify import (
    SENT_TABLE,
    EmailChannel,
    RetryPolicy,
    WebhookChannel,
    channels_from_settings,
    deliver_alerts,
    delivery_channels,
    normalise_alerts,
    read_ledger,
    retry_token,
)
from zlflow.warehouse.duckdb import DuckDBWarehouse

DATASETS = {"forecasts": "forecasts", "api": "api"}
FAST = RetryPolicy(max_tries=3, base_delay_s=0.0)
SECRET_PATH = "/services/T000/B000/s3cr3t-token"
NOW = datetime(2024, 6, 24, 7, 0, tzinfo=UTC)
LATER = datetime(2024, 6, 24, 8, 0, tzinfo=UTC)

RECORDS = [
    {
        "alert_date": "2024-06-21T00:00:00.000",
        "alert_type": "direction_signal",
        "horizon": "1m",
        "message": "lgbm 1m: probability of a rise is 0.71",
        "model": "lgbm",
        "severity": "info",
    },
    {
        "alert_date": "2024-06-24T00:00:00.000",
        "alert_type": "stale_data",
        "horizon": None,
        "message": "latest ZL bar is 2024-06-14, 5 exchange sessions before 2024-06-24",
        "model": None,
        "severity": "warning",
    },
]


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb", DATASETS) as warehouse:
        yield warehouse


def alerts(records: list[dict[str, Any]] = RECORDS) -> pd.DataFrame:
    return normalise_alerts(records)


def webhook(server: HTTPServer) -> WebhookChannel:
    return WebhookChannel(server.url_for(SECRET_PATH), "ZLFLOW_ALERT_WEBHOOK_URL", 5)


def posted(server: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.data) for request, _ in server.log]


def ledger(wh: DuckDBWarehouse) -> pd.DataFrame:
    return read_ledger(wh).set_index(["alert_id", "channel"]).sort_index()


# --- alerts and settings --------------------------------------------------------------


def test_an_alert_keeps_its_id_across_runs_and_json_round_trips() -> None:
    first, again = alerts(), alerts(list(reversed(RECORDS)))
    assert set(first["alert_id"]) == set(again["alert_id"])
    assert first["alert_id"].str.len().eq(16).all() and first["alert_id"].is_unique
    changed = [dict(RECORDS[0], message="lgbm 1m: probability of a rise is 0.72")]
    assert alerts(changed)["alert_id"].item() not in set(first["alert_id"])
    assert alerts()["horizon"].tolist() == ["1m", None]


def test_no_alerts_send_nothing_and_a_malformed_file_is_one_clear_error(
    httpserver: HTTPServer, wh: DuckDBWarehouse
) -> None:
    report = deliver_alerts(wh, normalise_alerts([]), [webhook(httpserver)], FAST, NOW)
    assert report.channels["webhook"] == {"sent": 0, "failed": 0, "already_sent": 0}
    assert httpserver.log == [] and report.rows_written == 0
    with pytest.raises(
        ZlflowError, match=r"^alert 2 of 2 has no severity, horizon, model, message$"
    ):
        normalise_alerts([RECORDS[0], {k: RECORDS[1][k] for k in ("alert_type", "alert_date")}])


def test_channels_come_from_config_and_secrets_from_the_environment_only() -> None:
    delivery = {
        "webhook": {"enabled": True, "url_env": "HOOK_URL", "timeout_s": 3},
        "email": {
            "enabled": True,
            "host": "smtp.example.com",
            "port": 587,
            "security": "starttls",
            "username": "desk",
            "password_env": "SMTP_PW",
            "sender": "zlflow@example.com",
            "recipients": ["desk@example.com"],
        },
    }
    # Both are registered as secrets for the rest of the process: distinct values, so
    # that no other test's text is redacted by them.
    url = "https://hooks.example/T0/B0/secret"
    password = "smtp-secret-Zq81"
    hook, mail = channels_from_settings(delivery, {"HOOK_URL": url, "SMTP_PW": password})
    assert isinstance(hook, WebhookChannel) and hook.url == url
    assert isinstance(mail, EmailChannel) and mail.password == password
    assert channels_from_settings({"webhook": {"enabled": False}}, {}) == []
    assert delivery_channels({"alerts": {"delivery": delivery}}) == ["webhook", "email"]
    assert delivery_channels({"alerts": {}}) == []
    no_one = {"email": delivery["email"] | {"recipients": []}}
    with pytest.raises(ConfigError, match="lists no recipients"):
        channels_from_settings(no_one, {})


# --- webhook --------------------------------------------------------------------------


def test_new_alerts_go_to_the_webhook_once_and_a_rerun_sends_nothing(
    httpserver: HTTPServer, wh: DuckDBWarehouse
) -> None:
    httpserver.expect_request(SECRET_PATH, method="POST").respond_with_data("ok")
    report = deliver_alerts(wh, alerts(), [webhook(httpserver)], FAST, NOW)
    assert report.channels["webhook"] == {"sent": 2, "failed": 0, "already_sent": 0}
    [payload] = posted(httpserver)
    assert set(payload) == {"text"}  # Slack's incoming-webhook format
    lines = payload["text"].splitlines()
    assert lines[0] == "*zlflow: 2 new ZL alert(s)*"
    assert lines[1].startswith("• [warning] stale_data 2024-06-24: latest ZL bar")  # worst first
    assert lines[2] == (
        "• [info] direction_signal 2024-06-21 1m lgbm: lgbm 1m: probability of a rise is 0.71"
    )
    rows = ledger(wh)
    assert len(rows) == 2 and (rows["status"] == "sent").all() and (rows["attempts"] == 1).all()
    assert (rows["sent_at"] == pd.Timestamp(NOW)).all() and rows["last_error"].isna().all()

    again = deliver_alerts(wh, alerts(), [webhook(httpserver)], FAST, LATER)
    assert again.channels["webhook"] == {"sent": 0, "failed": 0, "already_sent": 2}
    assert len(httpserver.log) == 1, "a rerun must not send an alert twice"
    assert again.rows_written == 0

    new = [*RECORDS, dict(RECORDS[0], alert_date="2024-06-24T00:00:00.000")]
    third = deliver_alerts(wh, alerts(new), [webhook(httpserver)], FAST, LATER)
    assert third.channels["webhook"]["sent"] == 1 and len(httpserver.log) == 2
    assert posted(httpserver)[1]["text"].count("•") == 1


def test_a_failing_webhook_leaves_alerts_unsent_and_the_next_run_sends_them(
    httpserver: HTTPServer, wh: DuckDBWarehouse, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(SECRET_PATH).respond_with_data("down", status=503)
    with caplog.at_level(logging.INFO, logger="zlflow"):
        report = deliver_alerts(wh, alerts(), [webhook(httpserver)], FAST, NOW)
    assert len(httpserver.log) == FAST.max_tries, "5xx is retried, then given up"
    assert report.channels["webhook"] == {"sent": 0, "failed": 2, "already_sent": 0}
    assert sorted(report.unsent) == sorted(alerts()["alert_id"])
    assert report.errors == {"webhook": "webhook: HTTP 503"}
    rows = ledger(wh)
    assert (rows["status"] == "failed").all() and rows["sent_at"].isna().all()
    assert (rows["last_error"] == "webhook: HTTP 503").all()
    assert "left for the next run" in caplog.text and "retry 2 of 2" in caplog.text

    # Next run: the endpoint is back; today's alerts have moved on (only one is still
    # active) but the other, never delivered, goes out too.
    httpserver.clear()
    httpserver.expect_request(SECRET_PATH).respond_with_data("ok")
    later = deliver_alerts(wh, alerts(RECORDS[1:]), [webhook(httpserver)], FAST, LATER)
    assert later.channels["webhook"] == {"sent": 2, "failed": 0, "already_sent": 0}
    assert posted(httpserver)[0]["text"].count("•") == 2
    rows = ledger(wh)
    assert (rows["status"] == "sent").all() and (rows["attempts"] == 2).all()
    assert (rows["first_attempt_at"] == pd.Timestamp(NOW)).all()
    assert (rows["sent_at"] == pd.Timestamp(LATER)).all() and rows["last_error"].isna().all()

    httpserver.clear()
    deliver_alerts(wh, alerts(), [webhook(httpserver)], FAST, LATER)
    assert httpserver.log == [], "nothing is sent twice after the recovery"


def test_a_rejected_request_is_not_retried_and_the_url_never_shows(
    httpserver: HTTPServer, wh: DuckDBWarehouse, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(SECRET_PATH).respond_with_data("invalid_payload", status=400)
    with caplog.at_level(logging.DEBUG):
        report = deliver_alerts(wh, alerts(), [webhook(httpserver)], FAST, NOW)
    assert len(httpserver.log) == 1
    assert report.errors["webhook"] == "webhook: HTTP 400 invalid_payload"

    dead = WebhookChannel(f"http://127.0.0.1:{free_port()}{SECRET_PATH}", "HOOK", 1)
    with caplog.at_level(logging.DEBUG):
        report = deliver_alerts(wh, alerts(), [dead], FAST, LATER)
    assert report.errors["webhook"] == "webhook: ConnectionError"
    stored = " ".join(read_ledger(wh)["last_error"].dropna())
    client_side = [r.getMessage() for r in caplog.records if r.name != "werkzeug"]
    assert any("POST" in m for m in client_side)  # urllib3's debug line, redacted
    assert not [m for m in client_side if "s3cr3t" in m] and "s3cr3t" not in stored


def test_a_missing_secret_is_recorded_as_unsent_naming_the_variable(
    wh: DuckDBWarehouse,
) -> None:
    [channel] = channels_from_settings({"webhook": {"enabled": True, "url_env": "NO_URL"}}, {})
    report = deliver_alerts(wh, alerts(), [channel], FAST, NOW)
    assert report.channels["webhook"]["failed"] == 2
    assert "environment variable NO_URL is not set" in report.errors["webhook"]


# --- e-mail ---------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping what it accepts; ``refuse`` answers 451 (try later)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.refuse = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.messages.append(
            (envelope.mail_from, envelope.rcpt_tos, message_from_bytes(envelope.content))
        )
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (b"desk", b"pw")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def email(port: int, password: str | None = "pw") -> EmailChannel:
    return EmailChannel(
        host="127.0.0.1",
        port=port,
        security="none",
        sender="zlflow@example.com",
        recipients=["desk@example.com", "risk@example.com"],
        username="desk",
        password=password,
        timeout_s=5,
    )


def test_alerts_go_out_by_email_once_after_logging_in(
    smtp_server: tuple[Inbox, int], wh: DuckDBWarehouse
) -> None:
    inbox, port = smtp_server
    report = deliver_alerts(wh, alerts(), [email(port)], FAST, NOW)
    assert report.channels["email"]["sent"] == 2
    [(sender, recipients, message)] = inbox.messages
    assert sender == "zlflow@example.com"
    assert recipients == ["desk@example.com", "risk@example.com"]
    assert message["Subject"] == "zlflow: 2 new ZL alert(s), most severe warning"
    body = message.get_payload(decode=True).decode()
    assert "[warning] stale_data 2024-06-24" in body and "probability of a rise is 0.71" in body
    deliver_alerts(wh, alerts(), [email(port)], FAST, LATER)
    assert len(inbox.messages) == 1


def test_a_busy_smtp_server_is_retried_and_a_refused_login_is_recorded(
    smtp_server: tuple[Inbox, int], wh: DuckDBWarehouse
) -> None:
    inbox, port = smtp_server
    inbox.refuse = 1  # 451 once, then accepted on the retry
    report = deliver_alerts(wh, alerts(), [email(port)], FAST, NOW)
    assert report.channels["email"]["sent"] == 2 and len(inbox.messages) == 1

    other = alerts([dict(RECORDS[1], alert_date="2024-06-25T00:00:00.000")])
    report = deliver_alerts(wh, other, [email(port, password="wrong")], FAST, LATER)
    assert report.errors["email"].startswith("email via 127.0.0.1")
    assert "login refused (535)" in report.errors["email"] and len(inbox.messages) == 1
    assert "wrong" not in report.errors["email"]


def test_webhook_and_email_are_deduplicated_separately(
    httpserver: HTTPServer, smtp_server: tuple[Inbox, int], wh: DuckDBWarehouse
) -> None:
    inbox, port = smtp_server
    httpserver.expect_request(SECRET_PATH).respond_with_data("down", status=500)
    report = deliver_alerts(wh, alerts(), [webhook(httpserver), email(port)], FAST, NOW)
    assert report.channels["webhook"]["failed"] == 2 and report.channels["email"]["sent"] == 2
    httpserver.clear()
    httpserver.expect_request(SECRET_PATH).respond_with_data("ok")
    report = deliver_alerts(wh, alerts(), [webhook(httpserver), email(port)], FAST, LATER)
    assert report.channels["webhook"]["sent"] == 2 and report.channels["email"]["sent"] == 0
    assert len(inbox.messages) == 1 and len(httpserver.log) == 1


# --- the rerun trigger ----------------------------------------------------------------


def test_the_retry_token_changes_only_while_a_rerun_is_owed(tmp_path: Path) -> None:
    path = tmp_path / "alerts_delivery.json"
    assert retry_token(path) is None
    path.write_text(json.dumps({"unsent": ["a"], "written_at": "T1", "retry_token": None}))
    assert retry_token(path) == "T1"  # differs from the recorded None: the next run delivers
    path.write_text(json.dumps({"unsent": [], "written_at": "T2", "retry_token": "T1"}))
    assert retry_token(path) == "T1"  # equals what that run had: a further run does nothing


# --- BigQuery -------------------------------------------------------------------------


def test_the_ledger_works_on_bigquery(bigquery_emulator: str, httpserver: HTTPServer) -> None:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from zlflow.warehouse.bigquery import BigQueryWarehouse

    client = bigquery.Client(
        project="zlflow-test",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bigquery_emulator),
    )
    datasets = {"forecasts": f"forecasts_{uuid.uuid4().hex[:8]}"}
    httpserver.expect_request(SECRET_PATH).respond_with_data("down", status=502)
    with BigQueryWarehouse("zlflow-test", "US", datasets, client=client) as bq:
        bq.ensure_datasets()
        report = deliver_alerts(bq, alerts(), [webhook(httpserver)], FAST, NOW)
        assert report.channels["webhook"]["failed"] == 2
        httpserver.clear()
        httpserver.expect_request(SECRET_PATH).respond_with_data("ok")
        report = deliver_alerts(bq, alerts(), [webhook(httpserver)], FAST, LATER)
        assert report.channels["webhook"] == {"sent": 2, "failed": 0, "already_sent": 0}
        deliver_alerts(bq, alerts(), [webhook(httpserver)], FAST, LATER)
        assert len(httpserver.log) == 1
        rows = read_ledger(bq)  # (the emulator's table metadata miscounts merged rows)
        assert len(rows) == 2 and rows.set_index(["alert_id", "channel"]).index.is_unique
        assert (rows["status"] == "sent").all() and (rows["attempts"] == 2).all()
        assert bq.table_info("forecasts", SENT_TABLE).kind == "table"
    client.close()


# --- the Snakemake rule ---------------------------------------------------------------


def test_the_rule_survives_a_failing_endpoint_and_delivers_on_the_next_run(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """Real Snakemake on a copy of the workflow, from a given alerts file (only the
    delivery rule may run): a 5xx run succeeds, the next run sends, a third does nothing."""
    workdir = copy_workflow(tmp_path / "workflow")
    publish = workdir / "results" / "default" / "publish"
    publish.mkdir(parents=True)
    (publish / "alerts.json").write_text(json.dumps({"alerts": RECORDS, "count": 2}))
    overlay = {
        "alerts": {
            "delivery": {
                "retry": {"max_tries": 2, "base_delay_s": 0},
                "webhook": {"enabled": True, "url_env": "ZLFLOW_TEST_WEBHOOK"},
            }
        }
    }
    (workdir / "overlay.yaml").write_text(json.dumps(overlay))
    env = os.environ | {"ZLFLOW_TEST_WEBHOOK": httpserver.url_for(SECRET_PATH)}
    report = publish / "alerts_delivery.json"

    def run() -> str:
        target = str(report.relative_to(workdir))
        result = subprocess.run(
            [SNAKEMAKE, target, "--configfile", "overlay.yaml", "--allowed-rules", "notify_alerts"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stderr

    httpserver.expect_request(SECRET_PATH).respond_with_data("down", status=500)
    out = run()
    assert "left for the next run: webhook: HTTP 500" in out
    assert len(json.loads(report.read_text())["unsent"]) == 2
    assert SECRET_PATH not in out and SECRET_PATH not in report.read_text()

    httpserver.clear()
    httpserver.expect_request(SECRET_PATH).respond_with_data("ok")
    out = run()
    assert "Params have changed" in out  # the retry token: nothing upstream changed
    assert json.loads(report.read_text())["channels"]["webhook"]["sent"] == 2
    assert len(httpserver.log) == 1

    assert "Nothing to be done" in run()
    assert len(httpserver.log) == 1


def test_starttls_is_verified_against_the_system_trust_store(
    tmp_path: Path,
    wh: DuckDBWarehouse,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The default security (STARTTLS) with a certificate from a local CA that the client
    trusts through SSL_CERT_FILE, as it would trust a public one; an untrusted one fails."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticator,
    )
    controller.start()
    try:
        channel = email(port)
        channel.security = "starttls"
        with caplog.at_level(logging.INFO, logger="zlflow"):
            untrusted = deliver_alerts(wh, alerts(), [channel], FAST, NOW)
        assert "SSLCertVerificationError" in untrusted.errors["email"] and not inbox.messages
        assert caplog.text.count("retry") == 0  # a certificate will not verify on a retry
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        trusted = deliver_alerts(wh, alerts(), [channel], FAST, LATER)
        assert trusted.channels["email"]["sent"] == 2 and len(inbox.messages) == 1
    finally:
        controller.stop()
