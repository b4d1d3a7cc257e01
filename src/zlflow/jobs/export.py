"""Jobs at the warehouse's far end: export a training view to Parquet, write the manifest."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from zlflow.export import export_training
from zlflow.jobs import connect
from zlflow.manifest import build_manifest
from zlflow.markers import write_json_atomic

log = logging.getLogger("zlflow")


def export_sql(view: str) -> str:
    """What the export reads: the whole training view."""
    return f"SELECT * FROM ${{training}}.{view}"


def run_export(
    warehouse: Mapping[str, Any], view: str, parquet: str, sidecar: str, compression: str
) -> None:
    with connect(warehouse) as wh:
        source = wh.table("training", view)
        log.info("exporting %s to %s", source, parquet)
        table = wh.query_arrow(export_sql(view))
    summary = export_training(table, parquet, sidecar, source, compression)
    log.info(
        "%d rows %s..%s, splits %s",
        summary["rows"],
        summary["date_min"],
        summary["date_max"],
        summary["splits"],
    )


def run_manifest(config: Mapping[str, Any], sidecars: list[str], output: str) -> None:
    manifest = build_manifest(config, sidecars)
    write_json_atomic(output, manifest)
    log.info("manifest: git %s, data %s", manifest["git"], list(manifest["data"]))
