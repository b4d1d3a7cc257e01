"""Publishing jobs: uploads to the forecasts dataset, alerts file, dashboard."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import pandas as pd

from zlflow.jobs import connect
from zlflow.markers import write_json_atomic
from zlflow.publish import explainer_rows, forecast_rows, metric_rows, upload, verdict_rows

log = logging.getLogger("zlflow")


def _upload(
    warehouse: Mapping[str, Any],
    table: str,
    frame: pd.DataFrame,
    quantiles: Sequence[float],
    snapshot: str,
    marker: str,
) -> None:
    with connect(warehouse) as wh:
        result = upload(wh, table, frame, quantiles, snapshot)
        info = wh.table_info("forecasts", table)
        backend = wh.backend
    log.info("forecasts.%s: %s", table, result)
    write_json_atomic(
        marker,
        {
            "object": f"{info.dataset}.{info.name}",
            "backend": backend,
            "rows": info.rows,
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "snapshot": snapshot,
        },
    )


def run_upload_forecasts(
    warehouse: Mapping[str, Any],
    oos: Sequence[str],
    live: Sequence[str],
    horizons: Mapping[str, int],
    quantiles: Sequence[float],
    snapshot: str,
    marker: str,
) -> None:
    backtest = pd.concat([pd.read_parquet(p) for p in oos], ignore_index=True)
    current = pd.concat([pd.read_parquet(p) for p in live], ignore_index=True)
    parts = [
        forecast_rows(
            backtest[backtest["horizon"] == h], current[current["horizon"] == h], quantiles, days
        )
        for h, days in sorted(horizons.items())
    ]
    _upload(
        warehouse,
        "zl_forecasts_daily",
        pd.concat(parts, ignore_index=True),
        quantiles,
        snapshot,
        marker,
    )


def run_upload_explainers(
    warehouse: Mapping[str, Any],
    shap: Sequence[str],
    quantiles: Sequence[float],
    snapshot: str,
    marker: str,
) -> None:
    drivers = pd.concat([pd.read_parquet(p) for p in shap], ignore_index=True)
    _upload(warehouse, "zl_explainers_daily", explainer_rows(drivers), quantiles, snapshot, marker)


def run_upload_metrics(
    warehouse: Mapping[str, Any],
    overall: Sequence[str],
    by_fold: Sequence[str],
    by_regime: Sequence[str],
    horizons: Sequence[str],
    quantiles: Sequence[float],
    snapshot: str,
    marker: str,
) -> None:
    parts = [
        metric_rows(pd.read_csv(o), pd.read_csv(f), pd.read_csv(r), h)
        for o, f, r, h in zip(overall, by_fold, by_regime, horizons, strict=True)
    ]
    _upload(
        warehouse,
        "zl_backtest_metrics",
        pd.concat(parts, ignore_index=True),
        quantiles,
        snapshot,
        marker,
    )


def run_upload_verdicts(
    warehouse: Mapping[str, Any],
    verdicts: Sequence[str],
    quantiles: Sequence[float],
    snapshot: str,
    marker: str,
) -> None:
    frame = pd.concat([pd.read_csv(p, dtype={"horizon": str}) for p in verdicts])
    _upload(
        warehouse,
        "zl_backtest_verdicts",
        verdict_rows(frame.reset_index(drop=True)),
        quantiles,
        snapshot,
        marker,
    )


ALERTS_SQL: Final = "SELECT * FROM ${api}.vw_zl_alerts ORDER BY severity, alert_type, alert_date"


def run_alerts(warehouse: Mapping[str, Any], json_path: str, csv_path: str) -> None:
    with connect(warehouse) as wh:
        alerts = wh.query_arrow(ALERTS_SQL).to_pandas()
    alerts.to_csv(csv_path, index=False)
    records = json.loads(alerts.to_json(orient="records", date_format="iso"))
    write_json_atomic(json_path, {"alerts": records, "count": len(records)})
    for row in records:
        log.warning("ALERT %s [%s] %s", row["alert_type"], row["severity"], row["message"])
    log.info("%d active alert(s)", len(records))


def run_dashboard(
    warehouse: Mapping[str, Any],
    settings: Mapping[str, Any],
    views: Sequence[str],
    site: str,
    html: str,
    charts: Mapping[str, str],
) -> None:
    with connect(warehouse) as wh:
        from zlflow.dashboard import build_site  # matplotlib: for this job only

        meta = build_site(wh, settings, views, site, html, charts)
    log.info(
        "site written to %s (%d API views as JSON, data through %s), one-file copy %s",
        site,
        len(meta["views"]),
        meta["data_through"],
        html,
    )
