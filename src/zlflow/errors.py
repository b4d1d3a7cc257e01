"""Exceptions with messages a user can act on; the rule log shows them once."""

from __future__ import annotations


class ZlflowError(Exception):
    """Base class for every error zlflow raises on purpose."""


class SourceError(ZlflowError):
    """A source file is missing or malformed (the message names file and row)."""


class ConfigError(ZlflowError):
    """The configuration is invalid (the message names the key)."""


class SqlError(ZlflowError):
    """A SQL file cannot be rendered, transpiled or executed (names the file)."""


class AssertionFailed(ZlflowError):
    """A data-quality assertion returned offending rows."""


class ExportError(ZlflowError):
    """An exported frame failed its schema check."""


class ModelError(ZlflowError):
    """A forecasting model was misconfigured, misused or fed inputs it cannot take."""
