"""Config validation with one-line errors that name the offending key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from zlflow.errors import ConfigError


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    where = _where(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        hint = f"; known keys: {', '.join(known)}" if known else ""
        return f"config {where}: unknown key {', '.join(map(repr, extra))}{hint}"
    if error.validator == "required":
        return f"config {where}: {error.message}"
    return f"config {where}: {error.message}"


def check_config(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Validate ``config`` against the JSON schema; raise ConfigError with the first problem."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(_message(best) + more)
    split = config.get("split", {})
    if split and split["validation_start"] >= split["test_start"]:
        raise ConfigError(
            f"config split: validation_start {split['validation_start']} must be before "
            f"test_start {split['test_start']}"
        )
