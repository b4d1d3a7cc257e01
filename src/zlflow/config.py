"""Config validation with one-line errors that name the offending key."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
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


_SCALAR_TYPES: Mapping[str, Callable[[Any], bool]] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
COMMAND_LINE_HINT = (
    "; values nested in --config arrive as text: write numbers plainly "
    "(--config horizons='{1w: 5}') or put nested settings in a --configfile"
)


def _coerce_command_line_scalars(config: MutableMapping[str, Any], validator: Any) -> None:
    """Read back as YAML the strings the schema wants as numbers, booleans or null.

    Snakemake parses a nested ``--config key='{a: 5}'`` with YAML's BaseLoader, so the 5
    arrives as the string '5'. Only strings at places where the schema expects a scalar of
    another type are converted, and only when they parse to that type.
    """
    for _ in range(100):  # one pass per nesting level at most
        changed = False
        for error in validator.iter_errors(config):
            if error.validator != "type" or not isinstance(error.instance, str):
                continue
            wanted = error.validator_value
            wanted = [wanted] if isinstance(wanted, str) else list(wanted)
            try:
                value = yaml.safe_load(error.instance)
            except yaml.YAMLError:
                continue
            if not any(_SCALAR_TYPES.get(t, lambda _: False)(value) for t in wanted):
                continue
            *parents, key = list(error.absolute_path)
            target: Any = config
            for part in parents:
                target = target[part]
            target[key] = value
            changed = True
        if not changed:
            return


def check_config(config: MutableMapping[str, Any], schema_path: str | Path) -> None:
    """Validate ``config`` against the JSON schema; raise ConfigError with the first problem.

    Strings that the command line left where the schema wants numbers, booleans or null
    are converted in place first (see ``_coerce_command_line_scalars``).
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    _coerce_command_line_scalars(config, validator)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        textual = best.validator == "type" and isinstance(best.instance, str)
        raise ConfigError(_message(best) + more + (COMMAND_LINE_HINT if textual else ""))
    split = config.get("split", {})
    if split and split["validation_start"] >= split["test_start"]:
        raise ConfigError(
            f"config split: validation_start {split['validation_start']} must be before "
            f"test_start {split['test_start']}"
        )
