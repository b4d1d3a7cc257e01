"""Alert delivery: each new alert sent once to a Slack-compatible webhook and/or by e-mail.

The warehouse table ``forecasts.zl_alerts_sent`` is both outbox and ledger: one row per
(alert, channel) with its status. A run sends, per channel, today's active alerts and
earlier ones that failed, less those the table shows as sent; so a rerun sends nothing
twice, and an endpoint that fails is retried (with backoff) and then left to the next run,
never failing this one. Secrets (the webhook URL, the SMTP password) come from environment
variables only and are redacted from every message this module writes or logs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from zlflow.errors import ConfigError, ZlflowError
from zlflow.loading import write_parquet_atomic
from zlflow.sources.http import redact, register_secret
from zlflow.warehouse.base import Warehouse

log = logging.getLogger("zlflow")

SENT_TABLE: Final = "zl_alerts_sent"
KEYS: Final = ("alert_id", "channel")
ALERT_COLUMNS: Final = ("alert_type", "severity", "alert_date", "horizon", "model", "message")
# A Slack message holds about 40k characters; a backlog goes out in several messages.
MAX_ALERTS_PER_MESSAGE: Final = 25
SEVERITY_ORDER: Final = {"critical": 0, "warning": 1, "info": 2}
LEDGER_SCHEMA: Final = pa.schema(
    [
        ("alert_id", pa.string()),
        ("channel", pa.string()),
        ("alert_type", pa.string()),
        ("severity", pa.string()),
        ("alert_date", pa.date32()),
        ("horizon", pa.string()),
        ("model", pa.string()),
        ("message", pa.string()),
        ("status", pa.string()),
        ("attempts", pa.int64()),
        ("first_attempt_at", pa.timestamp("us", tz="UTC")),
        ("last_attempt_at", pa.timestamp("us", tz="UTC")),
        ("sent_at", pa.timestamp("us", tz="UTC")),
        ("last_error", pa.string()),
    ]
)


class DeliveryError(ZlflowError):
    """A message did not go out; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(redact(message))
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 3
    base_delay_s: float = 2.0


class Channel(Protocol):
    name: str

    def send(self, alerts: pd.DataFrame) -> None:
        """Deliver one message listing ``alerts``; raise DeliveryError if it did not go out."""


# --- alerts ---------------------------------------------------------------------------


def alert_ids(alerts: pd.DataFrame) -> pd.Series:
    """A stable id per alert: the same alert on a rerun (or another day) has the same id."""

    def one(row: pd.Series) -> str:
        parts = ["" if pd.isna(row[c]) else str(row[c]) for c in ALERT_COLUMNS]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    return alerts.apply(one, axis=1) if len(alerts) else pd.Series([], dtype=str)


def normalise_alerts(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The alerts file's records as a frame with ids, dates as dates and no NaN strings."""
    records = list(records)
    for number, record in enumerate(records, start=1):
        missing = [c for c in ALERT_COLUMNS if c not in record]
        if missing:
            raise ZlflowError(f"alert {number} of {len(records)} has no {', '.join(missing)}")
    frame = pd.DataFrame(records, columns=list(ALERT_COLUMNS))
    frame["alert_date"] = pd.to_datetime(frame["alert_date"]).dt.date
    for column in ("horizon", "model"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame.insert(0, "alert_id", alert_ids(frame))
    return frame.drop_duplicates("alert_id", ignore_index=True)


def format_text(alerts: pd.DataFrame) -> str:
    """The message body: one line per alert, most severe first (Slack mrkdwn and plain text)."""
    lines = [f"*zlflow: {len(alerts)} new ZL alert(s)*"]
    for row in alerts.itertuples(index=False):
        scope = " ".join(str(v) for v in (row.horizon, row.model) if v is not None)
        where = f" {scope}" if scope else ""
        lines.append(f"• [{row.severity}] {row.alert_type} {row.alert_date}{where}: {row.message}")
    return "\n".join(lines)


# --- channels -------------------------------------------------------------------------


@dataclass
class WebhookChannel:
    """POST ``{"text": ...}`` to an incoming webhook (Slack's format; Mattermost's too)."""

    url: str | None
    url_env: str
    timeout_s: float = 10.0
    name: str = field(default="webhook", init=False)

    def __post_init__(self) -> None:
        # The URL is the secret, and urllib3's debug log shows its path: redact both.
        if self.url:
            register_secret(self.url)
            parts = urlsplit(self.url)
            secret_part = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(secret_part) > 8:
                register_secret(secret_part)

    def send(self, alerts: pd.DataFrame) -> None:
        if not self.url:
            raise DeliveryError(
                f"webhook: environment variable {self.url_env} is not set; export the "
                "webhook URL there (it is a secret: never in config)",
                retryable=False,
            )
        try:
            response = requests.post(
                self.url, json={"text": format_text(alerts)}, timeout=self.timeout_s
            )
        except requests.RequestException as err:
            # The exception text holds the URL (the secret): name the kind of failure only.
            raise DeliveryError(f"webhook: {type(err).__name__}", retryable=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryError(f"webhook: HTTP {response.status_code}", retryable=True)
        if response.status_code >= 400:
            body = response.text[:200].strip()
            raise DeliveryError(
                f"webhook: HTTP {response.status_code} {body}".strip(), retryable=False
            )


@dataclass
class EmailChannel:
    """One e-mail per message by SMTP (STARTTLS, implicit TLS or plain to a local relay)."""

    host: str
    port: int
    security: str
    sender: str
    recipients: Sequence[str]
    username: str | None = None
    password: str | None = None
    password_env: str = "ZLFLOW_SMTP_PASSWORD"
    timeout_s: float = 10.0
    name: str = field(default="email", init=False)

    def message(self, alerts: pd.DataFrame) -> EmailMessage:
        message = EmailMessage()
        worst = alerts["severity"].map(SEVERITY_ORDER).min()
        label = {v: k for k, v in SEVERITY_ORDER.items()}.get(worst, "info")
        message["Subject"] = f"zlflow: {len(alerts)} new ZL alert(s), most severe {label}"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(format_text(alerts).replace("*", ""))
        return message

    def send(self, alerts: pd.DataFrame) -> None:
        if self.username and not self.password:
            raise DeliveryError(
                f"email: environment variable {self.password_env} is not set; export the "
                f"SMTP password of {self.username} there (never in config)",
                retryable=False,
            )
        where = f"email via {self.host}:{self.port}"
        try:
            context = ssl.create_default_context()
            if self.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(self.message(alerts))
        except smtplib.SMTPAuthenticationError as err:
            raise DeliveryError(f"{where}: login refused ({err.smtp_code})", False) from None
        except smtplib.SMTPResponseException as err:
            # 4xx is a transient refusal (greylisting, busy); 5xx a permanent one.
            detail = err.smtp_error.decode(errors="replace")[:200] if err.smtp_error else ""
            raise DeliveryError(
                f"{where}: SMTP {err.smtp_code} {detail}".strip(), 400 <= err.smtp_code < 500
            ) from None
        except ssl.SSLCertVerificationError as err:
            raise DeliveryError(f"{where}: {type(err).__name__}: {err}", False) from None
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(f"{where}: {type(err).__name__}: {err}", True) from None


def channels_from_settings(
    delivery: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> list[Channel]:
    """The enabled channels, with their secrets read from the environment (and redacted).

    A missing secret is not an error here: the channel records its alerts as unsent, with
    a message naming the variable, and the next run with the variable set sends them.
    """
    environ = os.environ if environ is None else environ
    channels: list[Channel] = []
    webhook = delivery.get("webhook") or {}
    if webhook.get("enabled"):
        url = environ.get(webhook["url_env"], "").strip() or None
        channels.append(WebhookChannel(url, webhook["url_env"], webhook.get("timeout_s", 10)))
    email = delivery.get("email") or {}
    if email.get("enabled"):
        if not email.get("recipients"):
            raise ConfigError("alerts.delivery.email is enabled but lists no recipients")
        password = environ.get(email["password_env"], "") or None
        if password:
            register_secret(password)
        channels.append(
            EmailChannel(
                host=email["host"],
                port=int(email["port"]),
                security=email["security"],
                sender=email["sender"],
                recipients=list(email["recipients"]),
                username=email.get("username"),
                password=password,
                password_env=email["password_env"],
                timeout_s=email.get("timeout_s", 10),
            )
        )
    return channels


def send_with_retries(channel: Channel, alerts: pd.DataFrame, policy: RetryPolicy) -> str | None:
    """Send one message, retrying transient failures with exponential backoff.

    Returns None when it went out, else the (redacted) reason it did not.
    """

    def before_sleep(state: RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: %s; retry %d of %d",
            channel.name,
            err,
            state.attempt_number,
            policy.max_tries - 1,
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_tries),
        wait=wait_exponential(multiplier=policy.base_delay_s, min=0, max=300),
        retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        retrying(channel.send, alerts)
    except DeliveryError as err:
        return str(err)
    return None


# --- the ledger -----------------------------------------------------------------------


def read_ledger(wh: Warehouse) -> pd.DataFrame:
    """Every (alert, channel) row recorded so far; empty before the first delivery."""
    try:
        wh.table_info("forecasts", SENT_TABLE)
    except ZlflowError:
        return LEDGER_SCHEMA.empty_table().to_pandas()
    frame = wh.query_arrow(f"SELECT * FROM ${{forecasts}}.{SENT_TABLE}").to_pandas()
    frame["alert_date"] = pd.to_datetime(frame["alert_date"]).dt.date
    return frame


def _ledger_rows(
    chunk: pd.DataFrame, channel: str, error: str | None, now: datetime, earlier: pd.DataFrame
) -> pd.DataFrame:
    """The ledger rows of one message's alerts after an attempt (counts carried forward)."""
    attempts = dict(zip(earlier["alert_id"], earlier["attempts"], strict=True))
    first = dict(zip(earlier["alert_id"], earlier["first_attempt_at"], strict=True))
    stamp = pd.Timestamp(now)
    rows = chunk[["alert_id", *ALERT_COLUMNS]].copy()
    rows.insert(1, "channel", channel)
    rows["status"] = "failed" if error else "sent"
    rows["attempts"] = [int(attempts.get(a, 0)) + 1 for a in rows["alert_id"]]
    rows["first_attempt_at"] = [first.get(a, stamp) for a in rows["alert_id"]]
    rows["last_attempt_at"] = stamp
    rows["sent_at"] = None if error else stamp
    rows["last_error"] = error
    return rows


@dataclass
class DeliveryReport:
    """What one run did per channel (the rule's output records it)."""

    channels: dict[str, dict[str, int]] = field(default_factory=dict)
    unsent: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    rows_written: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "unsent": sorted(set(self.unsent)),
            "errors": self.errors,
            "ledger": f"forecasts.{SENT_TABLE}",
            "rows_written": self.rows_written,
        }


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    rank = frame["severity"].map(SEVERITY_ORDER).fillna(len(SEVERITY_ORDER))
    return (
        frame.assign(_rank=rank)
        .sort_values(["_rank", "alert_date", "alert_type", "alert_id"])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def deliver_alerts(
    wh: Warehouse,
    alerts: pd.DataFrame,
    channels: Sequence[Channel],
    policy: RetryPolicy,
    now: datetime | None = None,
) -> DeliveryReport:
    """Send each channel what it has not sent yet and record the outcome in the ledger.

    ``alerts`` comes from :func:`normalise_alerts`. A failed message leaves its alerts
    ``failed`` in the ledger (to be sent by a later run); nothing here raises for an
    endpoint's failure. A warehouse error does raise: without the ledger a rerun could
    send an alert twice.
    """
    now = now or datetime.now(UTC)
    ledger = read_ledger(wh)
    report = DeliveryReport()
    parts = []
    for channel in channels:
        mine = ledger[ledger["channel"] == channel.name]
        sent = set(mine.loc[mine["status"] == "sent", "alert_id"])
        backlog = mine.loc[mine["status"] != "sent", ["alert_id", *ALERT_COLUMNS]]
        todo = pd.concat([alerts[["alert_id", *ALERT_COLUMNS]], backlog], ignore_index=True)
        todo = todo.drop_duplicates("alert_id")
        todo = _order(todo[~todo["alert_id"].isin(sent)])
        counts = {"sent": 0, "failed": 0, "already_sent": int(alerts["alert_id"].isin(sent).sum())}
        for start in range(0, len(todo), MAX_ALERTS_PER_MESSAGE):
            chunk = todo.iloc[start : start + MAX_ALERTS_PER_MESSAGE]
            error = send_with_retries(channel, chunk, policy)
            parts.append(_ledger_rows(chunk, channel.name, error, now, mine))
            if error:
                counts["failed"] += len(chunk)
                report.unsent.extend(chunk["alert_id"])
                report.errors[channel.name] = error
                log.error(
                    "%s: %d alert(s) not delivered, left for the next run: %s",
                    channel.name,
                    len(chunk),
                    error,
                )
            else:
                counts["sent"] += len(chunk)
        report.channels[channel.name] = counts
        log.info(
            "%s: %d sent, %d failed, %d already sent before",
            channel.name,
            counts["sent"],
            counts["failed"],
            counts["already_sent"],
        )
    if parts:
        frame = pd.concat(parts, ignore_index=True)
        table = pa.Table.from_pandas(frame, schema=LEDGER_SCHEMA, preserve_index=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{SENT_TABLE}.parquet"
            write_parquet_atomic(table, path)
            wh.merge_parquet("forecasts", SENT_TABLE, path, KEYS)
        report.rows_written = len(frame)
    return report


def delivery_channels(config: Mapping[str, Any]) -> list[str]:
    """Names of the channels ``alerts.delivery`` enables (none by default)."""
    delivery = config["alerts"].get("delivery") or {}
    return [c for c in ("webhook", "email") if (delivery.get(c) or {}).get("enabled")]


def delivery_secrets(config: Mapping[str, Any]) -> list[str]:
    """The secrets' environment variables that are set (to pass on to remote jobs).

    Only set ones: a dry-run needs none, and a job without its secret records its alerts
    as unsent, naming the variable.
    """
    delivery = config["alerts"].get("delivery") or {}
    names = [
        (delivery.get("webhook") or {}).get("url_env"),
        (delivery.get("email") or {}).get("password_env"),
    ]
    return sorted(n for n in names if n and os.environ.get(n))


def retry_token(report_path: str | Path) -> str | None:
    """A params value for the delivery rule: changes exactly when a rerun is owed.

    After a run that left alerts unsent, it is that run's time (unseen before: the next
    run delivers again); after one that sent everything, it is the token that run had, so
    the recorded params match and a further run does nothing.
    """
    import json

    path = Path(report_path)
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    if report.get("unsent"):
        return str(report.get("written_at"))
    return report.get("retry_token")
