"""Warehouse jobs: load, deploy, assert, export."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from zlflow.assertions import failure, record_assertion
from zlflow.assertions import run_assertion as run_assertion_query
from zlflow.export import export_training
from zlflow.jobs import connect
from zlflow.jobs.ingest import refuse_replacing_ingested
from zlflow.loading import ShrinkGuard
from zlflow.manifest import build_manifest
from zlflow.markers import object_marker, write_json_atomic
from zlflow.pipeline import load_raw, load_reference
from zlflow.warehouse.sql import read_sql_object

log = logging.getLogger("zlflow")


def run_load_raw(
    warehouse: Mapping[str, Any],
    table: str,
    sample_dir: str,
    snapshot: str,
    marker: str,
    files: Mapping[str, Any] | None = None,
    shrink: Mapping[str, Any] | None = None,
) -> None:
    guard = ShrinkGuard(**(shrink or {}))
    with connect(warehouse) as wh:
        refuse_replacing_ingested(wh, table)
        listed = [entry["path"] for entry in (files or {}).get(table) or []]
        log.info("loading %s from %s", table, ", ".join([*listed, sample_dir]))
        loaded = load_raw(wh, table, sample_dir, snapshot, files, guard)
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


def run_deploy(
    warehouse: Mapping[str, Any],
    sql: str,
    name: str,
    template_vars: Mapping[str, str],
    marker: str,
) -> None:
    obj = read_sql_object(sql, name, dict(template_vars))
    with connect(warehouse) as wh:
        log.info("deploying %s as a %s from %s", obj.key, obj.materialize, sql)
        info = wh.deploy(obj)
        rows = "a view" if info.rows is None else f"{info.rows} rows"
        log.info("%s.%s: %s, %d columns", info.dataset, info.name, rows, len(info.columns))
        write_json_atomic(
            marker, object_marker(info, wh.backend, sql_file=sql, sql_sha256=obj.sha256)
        )


def run_assertion(warehouse: Mapping[str, Any], sql: str, marker: str) -> None:
    obj = read_sql_object(sql)
    with connect(warehouse) as wh:
        log.info("asserting %s: %s", obj.name, obj.description)
        result = run_assertion_query(wh, obj)
        # Pass or fail, the outcome goes to the warehouse so the alerts view can see it.
        record_assertion(wh, obj, result)
        if not result.passed:
            raise failure(obj, result)
        log.info("%s passed", obj.name)
        write_json_atomic(
            marker,
            {
                "assertion": obj.name,
                "description": obj.description,
                "sql_file": sql,
                "sql_sha256": obj.sha256,
                "backend": wh.backend,
                "offending_rows": 0,
            },
        )


def run_export(
    warehouse: Mapping[str, Any], view: str, parquet: str, sidecar: str, compression: str
) -> None:
    with connect(warehouse) as wh:
        source = wh.table("training", view)
        log.info("exporting %s to %s", source, parquet)
        table = wh.query_arrow(f"SELECT * FROM ${{training}}.{view}")
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
