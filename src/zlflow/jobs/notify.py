"""Alert delivery job: send the alerts file's new alerts and record them in the warehouse."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zlflow.jobs import connect
from zlflow.markers import write_json_atomic
from zlflow.notify import RetryPolicy, channels_from_settings, deliver_alerts, normalise_alerts

log = logging.getLogger("zlflow")


def run_notify(
    warehouse: Mapping[str, Any],
    alerts_path: str,
    delivery: Mapping[str, Any],
    retry_token: str | None,
    report_path: str,
) -> None:
    """Deliver; an endpoint's failure is logged and recorded, never raised (see notify)."""
    channels = channels_from_settings(delivery)
    alerts = normalise_alerts(json.loads(Path(alerts_path).read_text())["alerts"])
    now = datetime.now(UTC)
    if not channels:
        log.info("alerts.delivery enables no channel: nothing sent")
    with connect(warehouse) as wh:
        report = deliver_alerts(wh, alerts, channels, RetryPolicy(**delivery.get("retry", {})), now)
    write_json_atomic(
        report_path,
        report.as_dict()
        | {"active": len(alerts), "retry_token": retry_token, "written_at": now.isoformat()},
    )
