"""``python -m zlflow.warehouse candidate [--configfile FILE ...] [--discard]``.

Exit status 0 with the candidate described (or discarded), 1 with a one-line error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from zlflow.config import check_config
from zlflow.errors import ZlflowError
from zlflow.warehouse import connect
from zlflow.warehouse.candidate import (
    connection_settings,
    discard_candidate,
    inspect_candidate,
    results_dir,
)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Snakemake's --configfile: an overlay's mappings update the base's, key by key."""
    merged = dict(base)
    for key, value in overlay.items():
        nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if nested else value
    return merged


def load_config(files: Sequence[str]) -> dict[str, Any]:
    """config/config.yaml with the overlays, validated like the workflow's."""
    config: dict[str, Any] = {}
    for path in ["config/config.yaml", *files]:
        try:
            config = _merge(config, yaml.safe_load(Path(path).read_text()) or {})
        except OSError as err:
            raise ZlflowError(f"cannot read {path}: run in the workflow folder ({err})") from err
    check_config(config, "config/schema.yaml")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zlflow.warehouse",
        description="Inspect or discard the candidate a failed audit left behind.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    candidate = commands.add_parser("candidate", help="describe the candidate datasets")
    candidate.add_argument(
        "--configfile", action="append", default=[], help="the run's config overlays"
    )
    candidate.add_argument(
        "--discard", action="store_true", help="drop the candidate and its markers"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.configfile)
        settings = connection_settings(config, candidate=True)
        path = Path(settings["duckdb"]["path"])
        if settings["backend"] == "duckdb" and not path.exists():
            raise ZlflowError(f"no warehouse at {path}: nothing to inspect or discard")
        with connect(settings) as wh:
            if args.discard:
                lines = discard_candidate(wh, results_dir(config))
            else:
                lines = inspect_candidate(wh)
    except ZlflowError as err:
        print(err, file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
