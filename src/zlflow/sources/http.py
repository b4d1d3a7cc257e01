"""HTTP for source connectors: retries with backoff, clear errors and redacted secrets.

Retrying is urllib3's :class:`~urllib3.util.retry.Retry` (mounted on a requests
session), not a hand-written loop: connection errors, HTTP 429 (honouring Retry-After)
and 5xx are retried with exponential backoff; anything still failing becomes one
:class:`~zlflow.errors.SourceError` naming the source, the URL and the status.

API keys come only from environment variables (:func:`secret_from_env`). Every secret
read that way is registered for redaction: it is replaced by ``***`` in our messages
and in the records of the loggers that could print a request URL (urllib3's logs the
full URL, query string included, at DEBUG and on retry warnings).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from zlflow.errors import SourceError

log = logging.getLogger(__name__)

REDACTED: Final = "***"
# Query parameters whose value is a credential whatever it is.
SECRET_PARAMS: Final = frozenset({"api_key", "apikey", "key", "token", "access_token"})
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
_BODY_SHOWN: Final = 300
# Loggers that may print a URL with its query string, or our own messages.
_REDACTED_LOGGERS: Final = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
    "databento",
    "databento.historical.client",
    "databento.common.http",
    __name__,
)

_secrets: set[str] = set()


# --- secrets -----------------------------------------------------------------------


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every registered secret (and ``extra``) replaced by ``***``."""
    for secret in sorted({*_secrets, *(s for s in extra if s)}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def register_secret(value: str) -> None:
    """Redact ``value`` from now on in messages and in the filtered loggers' records."""
    if value:
        _secrets.add(value)


class _RedactingFilter(logging.Filter):
    """Rewrites a log record's message when it contains a registered secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_FILTER: Final = _RedactingFilter()
for _name in _REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


def redact_logger(name: str) -> None:
    """Also redact secrets in records logged directly on logger ``name``."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def secret_from_env(variable: str, source: str) -> str:
    """Read an API key from the environment and register it for redaction.

    Keys never come from config files, so they cannot end up in markers or commits.
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        raise SourceError(
            f"{source}: environment variable {variable} is not set; export your {source} "
            f"API key as {variable} (keys are never read from config files)"
        )
    register_secret(value)
    return value


def safe_url(url: str, params: Mapping[str, Any] | None = None) -> str:
    """The URL for messages: credential parameters shown as ``***``, secrets redacted."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, str(v)) for k, v in (params or {}).items() if v is not None]
    shown = [(k, REDACTED if k.lower() in SECRET_PARAMS else v) for k, v in query]
    text = urlunsplit(parts._replace(query=urlencode(shown, safe="*,:")))
    return redact(text)


# --- retry policy ------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``max_tries`` attempts in all, waiting ``base_delay_s`` * 2**n.

    A Retry-After header overrides the wait, capped at ``max_retry_after_s``; tests
    pass tiny delays so retries cost milliseconds.
    """

    max_tries: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    max_retry_after_s: int = 300
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {self.max_tries}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must be >= 0")


class _LoggedRetry(Retry):
    """urllib3 Retry that waits base * 2**(n-1) from the first retry and logs each one."""

    source: str = "http"

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.source = self.source
        return retry

    def get_backoff_time(self) -> float:
        if not self.history:
            return 0.0
        errors = 0
        for attempt in reversed(self.history):
            if attempt.redirect_location is not None:
                break
            errors += 1
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (errors - 1)))

    def increment(self, *args: Any, **kwargs: Any) -> Self:
        retry = super().increment(*args, **kwargs)
        last = retry.history[-1]
        what = f"HTTP {last.status}" if last.status is not None else type(last.error).__name__
        log.warning(
            "%s: %s from %s; retry %d",
            self.source,
            what,
            safe_url(last.url or ""),
            len(retry.history),
        )
        return retry


# --- client ------------------------------------------------------------------------


class HttpClient:
    """A requests session for one source, retrying transient failures per ``policy``."""

    def __init__(self, source: str, policy: RetryPolicy | None = None) -> None:
        self.source = source
        self.policy = policy or RetryPolicy()
        retry = _LoggedRetry(
            total=self.policy.max_tries - 1,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=self.policy.base_delay_s,
            backoff_max=self.policy.max_delay_s,
            respect_retry_after_header=True,
            retry_after_max=self.policy.max_retry_after_s,
            raise_on_status=False,
            raise_on_redirect=True,
        )
        retry.source = source
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def _fail(self, url: str, params: Mapping[str, Any] | None, message: str) -> SourceError:
        return SourceError(redact(f"{self.source}: {message} ({safe_url(url, params)})"))

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """GET with retries; any final non-2xx status is a SourceError with the body's gist."""
        for name, value in (params or {}).items():
            if name.lower() in SECRET_PARAMS and value:
                register_secret(str(value))
        tries = self.policy.max_tries
        try:
            response = self.session.get(url, params=params, timeout=self.policy.timeout_s)
            body = response.content  # read here so a cut-off transfer fails inside the try
        except requests.exceptions.RetryError as err:
            # Raised when Retry-After or redirects exhaust the retries with no response.
            raise self._fail(url, params, f"gave up after {tries} tries: {err}") from None
        except (requests.ConnectionError, requests.Timeout) as err:
            cause = getattr(err.args[0], "reason", None) if err.args else None
            # urllib3's text starts with the connection object's repr; keep what follows.
            detail = str(cause or err).rpartition(">: ")[2]
            raise self._fail(
                url, params, f"cannot reach the server after {tries} tries: {detail}"
            ) from None
        except requests.RequestException as err:
            raise self._fail(
                url, params, f"transfer failed, body cut off or undecodable: {err}"
            ) from None
        if not response.ok:
            gist = body[:_BODY_SHOWN].decode("utf-8", "replace").strip()
            after = f" after {tries} tries" if response.status_code in RETRY_STATUSES else ""
            raise self._fail(
                url, params, f"HTTP {response.status_code} {response.reason}{after}: {gist!r}"
            )
        return response

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON; a truncated or invalid body is a SourceError, not a crash."""
        response = self.get(url, params)
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as err:
            tail = response.content[-60:].decode("utf-8", "replace")
            raise self._fail(
                url,
                params,
                f"invalid or truncated JSON ({len(response.content)} bytes, ends {tail!r}): {err}",
            ) from None
