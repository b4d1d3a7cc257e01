"""Run manifest: what produced a run's results, so any run can be reproduced from it."""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "zlflow",
    "snakemake",
    "duckdb",
    "sqlglot",
    "pandas",
    "pyarrow",
    "numpy",
    "lightgbm",
    "optuna",
    "shap",
    "scikit-learn",
    "pandera",
    "pandas-market-calendars",
    "google-cloud-bigquery",
)


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions (None when a package is absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root: str | Path = ".") -> dict[str, Any]:
    """Commit of the checkout and whether tracked files differ from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def build_manifest(
    config: Mapping[str, Any], sidecars: Sequence[str | Path], root: str | Path = "."
) -> dict[str, Any]:
    """Config, package versions, git commit and the data fingerprint of every export."""
    exports = {}
    for path in sidecars:
        summary = json.loads(Path(path).read_text())
        exports[Path(path).stem] = {
            "rows": summary["rows"],
            "date_min": summary["date_min"],
            "date_max": summary["date_max"],
            "fingerprint_sha256": summary["fingerprint_sha256"],
        }
    return {
        "config": dict(config),
        "packages": package_versions(),
        "python": platform.python_version(),
        "git": git_state(root),
        "data": exports,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }
