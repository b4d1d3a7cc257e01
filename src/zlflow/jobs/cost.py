"""Cost guard job: dry-run every SQL object and assertion, report bytes, enforce caps."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zlflow.cost import CostCapExceeded, cost_table, dry_run_objects, summarize
from zlflow.errors import ConfigError
from zlflow.jobs import connect
from zlflow.markers import write_json_atomic
from zlflow.objects import assertion_objects, check_references, loaded_tables, sql_objects
from zlflow.warehouse.bigquery import BigQueryWarehouse

log = logging.getLogger("zlflow")
# Emulators answer dry runs (the SQL is checked) but report no bytes.
EMULATOR_NOTE = "api_endpoint is an emulator: it checks each query but reports 0 bytes"


def run_cost_guard(
    warehouse: Mapping[str, Any],
    sql_dir: str,
    horizons: Mapping[str, int],
    built: Collection[str],
    caps: Mapping[str, Any],
    csv: str,
    summary: str,
    log_file: str,
) -> None:
    """Dry-run everything once the objects in ``built`` exist; fail above a cap.

    Objects reading anything outside ``built`` (forecasts, API views) may not exist
    yet: they are reported as not deployed rather than failing. The table goes to the
    log too, since Snakemake deletes the outputs of a failed job.
    """
    if warehouse["backend"] != "bigquery":
        raise ConfigError(
            f"cost guard: dry runs estimate BigQuery bytes, and backend is "
            f"{warehouse['backend']!r}, which bills nothing; run it with "
            "--configfile config/bigquery.yaml"
        )
    objects = sql_objects(sql_dir, dict(horizons))
    assertions = assertion_objects(sql_dir)
    known = set(objects) | loaded_tables()
    todo = [("object", o) for o in objects.values()] + [
        ("assertion", a) for a in assertions.values()
    ]
    deferred = {
        f"assertions.{obj.name}" if kind == "assertion" else obj.key
        for kind, obj in todo
        if not set(check_references(obj, known)) <= set(built)
    }
    per_object = int(caps["max_bytes_per_object"])
    total_cap = caps.get("max_bytes_total")
    with connect(warehouse) as wh:
        assert isinstance(wh, BigQueryWarehouse)
        log.info("dry-running %d objects in project %s (%s)", len(todo), wh.project, wh.location)
        runs = dry_run_objects(wh, todo, deferred, per_object)
        project, location = wh.project, wh.location
    table = cost_table(runs)
    result = summarize(runs, per_object, None if total_cap is None else int(total_cap))
    shown = table.drop(columns=["sql_file"]).to_string(index=False)
    log.info("bytes processed per object:\n%s", shown)
    endpoint = warehouse["bigquery"].get("api_endpoint")
    if endpoint:
        log.warning("%s (%s)", EMULATOR_NOTE, endpoint)
    for key in result["not_deployed"]:
        log.info("%s: not dry-run, it reads tables that publishing creates", key)
    if not result["passed"]:
        raise CostCapExceeded(f"cost guard: {'; '.join(result['problems'])} (table: {log_file})")
    Path(csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv, index=False)
    write_json_atomic(
        summary,
        result
        | {
            "backend": "bigquery",
            "project": project,
            "location": location,
            "note": EMULATOR_NOTE if endpoint else "",
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    top = table.iloc[0] if len(table) else None
    largest = f", largest {top['object']} ({top['gib']} GiB)" if top is not None else ""
    log.info(
        "cost guard passed: %d dry runs, %.3f GiB in all%s",
        result["dry_run"],
        result["total_bytes"] / 2**30,
        largest,
    )
