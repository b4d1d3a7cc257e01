"""Inspect or discard the candidate a failed audit left behind (write-audit-publish).

    python -m zlflow.warehouse candidate [--configfile FILE ...]            # inspect
    python -m zlflow.warehouse candidate [--configfile FILE ...] --discard  # discard

Run it in the workflow folder with the same ``--configfile`` overlays as the run. Inspecting
lists each candidate object beside its published one and the assertions that failed.
Discarding drops the candidate datasets and the markers that stand for them, so the next
run rebuilds the candidate from the current inputs; the published warehouse is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zlflow.errors import ZlflowError
from zlflow.warehouse.base import Warehouse
from zlflow.warehouse.wap import LAYERS, PUBLISHED, SUFFIX, candidate_datasets, published_key


def results_dir(config: Mapping[str, Any]) -> Path:
    """Where a run of this config writes (``results/<experiment>``, as rules/common.smk)."""
    return Path("results", str(config["experiment"]))


def connection_settings(config: Mapping[str, Any], candidate: bool = False) -> dict[str, Any]:
    """What a job needs to connect: backend, its settings and dataset names (for a job
    that builds or audits the candidate, the candidate mapping: write-audit-publish)."""
    duckdb = dict(config.get("duckdb", {}))
    duckdb["path"] = str(results_dir(config) / duckdb.get("path", "warehouse.duckdb"))
    datasets = dict(config["datasets"])
    settings = {
        "backend": config["backend"],
        "duckdb": duckdb,
        "datasets": candidate_datasets(datasets) if candidate else datasets,
    }
    if config["backend"] == "bigquery":
        # Where the warehouse is, not the cost caps: a new cap must not rerun every job.
        settings["bigquery"] = {
            k: v
            for k, v in config["bigquery"].items()
            if k in ("project", "location", "api_endpoint")
        }
    return settings


def failed_assertions_sql(dataset_key: str) -> str:
    """The assertions whose last run failed (``dataset_key``: the published market_data)."""
    return (
        "SELECT assertion, offending_rows, checked_at FROM "
        f"${{{dataset_key}}}.assertion_results WHERE status = 'failed' ORDER BY assertion"
    )


def _rows(rows: int | None) -> str:
    return "a view" if rows is None else f"{rows:,} rows"


def inspect_candidate(wh: Warehouse) -> list[str]:
    """Lines describing the candidate: each object beside the published one, then the
    assertions that failed. ``wh`` uses a candidate mapping."""
    lines = []
    for key in LAYERS:
        names = wh.list_objects(key)
        lines.append(f"{wh.datasets[key]}: {len(names)} object(s)")
        for name in names:
            ours = wh.table_info(key, name)
            try:
                theirs = _rows(wh.table_info(PUBLISHED + key, name).rows)
            except ZlflowError:
                theirs = "not published"
            lines.append(f"  {name}: {ours.kind}, {_rows(ours.rows)} (published: {theirs})")
    audit = published_key(wh.datasets, "market_data")
    try:
        wh.table_info(audit, "assertion_results")
    except ZlflowError:
        return lines
    failed = wh.query_arrow(failed_assertions_sql(audit)).to_pylist()
    lines.append(f"failed assertions: {len(failed)}")
    lines += [
        f"  {r['assertion']}: {r['offending_rows']} offending row(s), {r['checked_at']}"
        for r in failed
    ]
    return lines


def candidate_markers(results: Path) -> list[Path]:
    """The markers that stand for candidate objects and their audit."""
    found = [m for key in LAYERS for m in sorted((results / "warehouse" / key).glob("*.json"))]
    return found + sorted((results / "assertions").glob("*.json"))


def discard_candidate(wh: Warehouse, results: Path) -> list[str]:
    """Drop the candidate datasets and their markers; the published warehouse stays."""
    dropped = []
    for key in LAYERS:
        name = wh.datasets[key]
        if not name.endswith(SUFFIX):
            raise ZlflowError(f"{name} is not a candidate dataset; nothing was discarded")
        dropped.append(name)
    markers = candidate_markers(results)
    # Markers first: a marker without its object would claim a candidate that is gone.
    for marker in markers:
        marker.unlink(missing_ok=True)
    for key in LAYERS:
        wh.drop_dataset(key)
    return [
        f"dropped {', '.join(dropped)} and {len(markers)} marker(s) under {results}; "
        "the next run rebuilds the candidate from the current inputs"
    ]
