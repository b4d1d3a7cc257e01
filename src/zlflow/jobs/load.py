"""Warehouse jobs that load rows: a raw table (sample or user files) and a reference table."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from zlflow.jobs import connect
from zlflow.loading import ShrinkGuard
from zlflow.markers import object_marker, write_json_atomic
from zlflow.pipeline import load_raw, load_reference

log = logging.getLogger("zlflow")


def run_load_raw(
    warehouse: Mapping[str, Any],
    table: str,
    sample_dir: str,
    snapshot: str,
    marker: str,
    files: Mapping[str, Any] | None = None,
    shrink: Mapping[str, Any] | None = None,
    calendar: Mapping[str, Any] | None = None,
) -> None:
    # Imported here: a reference-table job needs neither the live clients nor pandera.
    from zlflow.jobs.ingest import refuse_replacing_ingested

    guard = ShrinkGuard(**(shrink or {}))
    with connect(warehouse) as wh:
        refuse_replacing_ingested(wh, table)
        listed = [entry["path"] for entry in (files or {}).get(table) or []]
        log.info("loading %s from %s", table, ", ".join([*listed, sample_dir]))
        loaded = load_raw(wh, table, sample_dir, snapshot, files, guard, calendar)
        info = loaded.info
        log.info("%s.%s: %d rows; repairs %s", info.dataset, info.name, info.rows, loaded.repairs)
        write_json_atomic(
            marker,
            object_marker(
                info, wh.backend, snapshot=snapshot, files=loaded.files, repairs=loaded.repairs
            ),
        )


def run_load_reference(
    warehouse: Mapping[str, Any],
    table: str,
    settings: Mapping[str, Any],
    snapshot: str,
    marker: str,
) -> None:
    with connect(warehouse) as wh:
        info = load_reference(wh, table, settings, snapshot)
        log.info(
            "%s.%s: %d rows from config %s", info.dataset, info.name, info.rows, dict(settings)
        )
        write_json_atomic(marker, object_marker(info, wh.backend, settings=dict(settings)))
