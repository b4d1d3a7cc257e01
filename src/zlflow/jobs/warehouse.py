"""Warehouse jobs: deploy an object, run an assertion, publish the audited candidate.

Loading lives in ``zlflow.jobs.load`` and exporting in ``zlflow.jobs.export``: a deploy
or assertion job (most jobs of a warehouse rebuild) imports neither pandera nor the
exchange calendars nor the HTTP clients, which halves its start-up; a deploy job imports
no pandas, pyarrow or numpy either (duckdb and sqlglot are all it needs).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zlflow.errors import ZlflowError
from zlflow.jobs import connect
from zlflow.markers import object_marker, write_json_atomic
from zlflow.warehouse.base import Warehouse
from zlflow.warehouse.sql import read_sql_object
from zlflow.warehouse.wap import (
    candidate_names,
    inspect_hint,
    published_datasets,
    published_key,
    split_objects,
    stale_tables,
)

log = logging.getLogger("zlflow")


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
    # Imported here: assertions read pyarrow tables, which a deploy job never needs.
    from zlflow.assertions import failure, record_assertion, with_lineage
    from zlflow.assertions import run_assertion as run_assertion_query

    obj = read_sql_object(sql)
    with connect(warehouse) as wh:
        log.info("asserting %s: %s", obj.name, obj.description)
        result = run_assertion_query(wh, obj)
        # Pass or fail, the outcome goes to the published warehouse so the alerts view sees it.
        record_assertion(wh, obj, result, published_key(wh.datasets, "market_data"))
        if not result.passed:
            shown = replace(result, sample=with_lineage(wh, result.sample))
            raise failure(obj, shown, inspect_hint(wh.datasets))
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


def candidate_version(marker: str | Path) -> str:
    """A candidate object's version: its marker, rewritten whenever the job rebuilt it."""
    path = Path(marker)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"{path.stat().st_mtime_ns}:{digest}"


def _published_as_candidate(wh: Warehouse, dataset_key: str, name: str) -> bool:
    """Whether the published table exists with the candidate's columns."""
    try:
        published = wh.table_info(published_key(wh.datasets, dataset_key), name)
    except ZlflowError:
        return False
    return sorted(published.columns) == sorted(wh.table_info(dataset_key, name).columns)


def run_publish(
    warehouse: Mapping[str, Any],
    objects: Mapping[str, Mapping[str, Any] | None],
    marker: str,
    candidates: Sequence[str] = (),
) -> None:
    """Publish the audited candidate: every object at once, or none (write-audit-publish).

    ``objects`` maps ``dataset.name`` (in deploy order) to its SQL file, name and template
    variables, or None for a loaded table. ``candidates`` are the candidate markers
    (``<dataset>/<name>.json``): only tables rebuilt since the last publish are copied.
    """
    sql = {
        key: None
        if spec is None
        else read_sql_object(spec["sql"], spec["name"], dict(spec["template_vars"]))
        for key, spec in objects.items()
    }
    versions = {f"{Path(m).parent.name}.{Path(m).stem}": candidate_version(m) for m in candidates}
    tables, views = split_objects(sql)
    with connect(warehouse) as wh:
        published = published_datasets(wh.datasets)
        present = {f"{d}.{n}" for d, n in tables if _published_as_candidate(wh, d, n)}
        stale = stale_tables(tables, versions or None, wh.published_versions(), present)
        log.info(
            "publishing %d of %d tables (the others are as last published) and %d views to %s",
            len(stale),
            len(tables),
            len(views),
            published,
        )
        wh.publish(stale, views, {k: v for k, v in versions.items() if k in sql} or None)
        record = {}
        for key in sql:
            dataset, name = key.split(".")
            info = wh.table_info(published_key(wh.datasets, dataset), name)
            record[key] = {"kind": info.kind, "rows": info.rows, "columns": len(info.columns)}
        log.info("published %d objects", len(record))
    write_json_atomic(
        marker,
        {
            "backend": wh.backend,
            "published": record,
            "copied": [f"{d}.{n}" for d, n in stale],
            "candidate_datasets": candidate_names(wh.datasets),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
