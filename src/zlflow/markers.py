"""Marker files: small JSON records of what a rule did to an external system.

A marker stands in for a warehouse object in Snakemake's file-based DAG, so it records
enough to mean something (object, SQL hash, backend, rows, time) and is written
atomically: a failed job never leaves a marker behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zlflow.warehouse.base import TableInfo


def umask_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the user's umask."""
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def fix_mode(path: str | Path) -> None:
    """Give a file made by ``mkstemp`` (always 0600) the mode the user's umask asks for."""
    os.chmod(path, umask_mode())


def write_json_atomic(path: str | Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
        fix_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def object_marker(info: TableInfo, backend: str, **extra: Any) -> dict[str, Any]:
    """The marker payload for a deployed or loaded object."""
    record = asdict(info)
    record["object"] = f"{info.dataset}.{info.name}"
    record["backend"] = backend
    record["time"] = datetime.now(UTC).isoformat(timespec="seconds")
    record.update(extra)
    return record
