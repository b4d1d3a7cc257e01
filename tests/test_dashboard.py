"""The live track record view and the static site, on a small real warehouse.

The fixture builds the bundled sample warehouse, publishes backtest forecasts (two folds,
a model and the ensemble, scored and judged against the baselines by the project's own
metrics and verdict code) and live forecasts on the last 30 sessions, of which only the
first have matured, then deploys every API view. The site is served over a local HTTP
server and loaded in a real headless Chromium: no console errors, every chart rendered,
the verdict and live track record visible, every table inside a 1280-pixel window; a
screenshot is kept in test-artifacts/.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import math
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_publish import predictions

from zlflow.baselines import baseline_predictions
from zlflow.dashboard import CHARTS, SiteError, build_site, feature_label
from zlflow.metrics import evaluate, pinball_loss
from zlflow.models.base import quantile_column
from zlflow.objects import deploy_order, sql_objects
from zlflow.publish import explainer_rows, forecast_rows, metric_rows, upload, verdict_rows
from zlflow.verdicts import verdict_table
from zlflow.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUANTILES = [0.025, 0.05, 0.1, 0.5, 0.9, 0.95, 0.975]
Z = {0.025: -1.96, 0.05: -1.645, 0.1: -1.2816, 0.5: 0.0, 0.9: 1.2816, 0.95: 1.645, 0.975: 1.96}
HORIZON, DAYS = "1m", 21
LIVE_SESSIONS = 30
DRIVERS = ["ret_21d", "rsi_14", "dgs10", "oil_share", "board_crush", "rv_21", "cot_zl_net_pct"]
# Flags for a closed network: no background connections, no first-run or sync traffic.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=10000",
]


def forecasts(rows: pd.DataFrame, model: str, fold: int, tilt: float) -> pd.DataFrame:
    """Quantiles from the 21-session realised volatility known at t, a tilted median."""
    sigma = rows["rv_21"].to_numpy(dtype=float) * math.sqrt(DAYS / 252)
    median = tilt * rows["ret_21d"].to_numpy(dtype=float)
    out = predictions(rows, model, 0.5, fold).assign(
        regime=rows["regime"].astype(str).to_numpy(),
        p_up=0.5 + 0.4 * np.tanh(median / sigma),
        direction_skill=0.01,
    )
    for q, z in Z.items():
        out[quantile_column(q)] = median + z * sigma
    return out


def backtest(view: pd.DataFrame) -> pd.DataFrame:
    """Two folds of model, ensemble and baseline forecasts on test rows before the live ones."""
    earlier = view.head(len(view) - LIVE_SESSIONS)
    test = earlier[(earlier["split"] == "test") & earlier["target_log_return"].notna()].tail(250)
    parts = []
    for fold, rows in ((1, test.head(125)), (2, test.tail(125))):
        train = view[view["target_date"] < rows["trade_date"].min()]
        parts += [
            forecasts(rows, "lgbm", fold, 0.3),
            forecasts(rows, "ensemble", fold, 0.15),
            baseline_predictions(train, rows, QUANTILES, fold, HORIZON).merge(
                rows[["trade_date", "regime", "close"]], on="trade_date"
            ),
        ]
    return pd.concat(parts, ignore_index=True)


def live(view: pd.DataFrame) -> pd.DataFrame:
    """Live forecasts of the last sessions: the latest have no outcome yet."""
    rows = view.tail(LIVE_SESSIONS).copy()
    pending = rows["target_date"].isna()
    rows.loc[pending, "target_date"] = rows.loc[pending, "trade_date"] + pd.Timedelta(days=31)
    parts = [forecasts(rows, m, -1, t) for m, t in (("lgbm", 0.3), ("ensemble", 0.15))]
    # An older version of one live forecast: the track record keeps the latest version only.
    older = forecasts(rows.tail(25).head(1), "lgbm", -1, 0.3)
    parts.append(older.assign(model_version="lgbm-v0", p_up=0.99))
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(as_of_date=frame["trade_date"], horizon_days=DAYS)


def publish(wh: DuckDBWarehouse, folder: Path) -> dict[str, pd.DataFrame]:
    """Upload forecasts, drivers, metrics and verdicts and deploy every API view."""
    view = wh.query_arrow("SELECT * FROM ${training}.vw_zl_1m_v1 ORDER BY trade_date").to_pandas()
    for column in ("trade_date", "target_date"):
        view[column] = pd.to_datetime(view[column])
    scored = backtest(view)
    current = live(view)
    published = scored[scored["model"].isin(["lgbm", "ensemble"])]
    upload(
        wh,
        "zl_forecasts_daily",
        forecast_rows(published, current, QUANTILES, DAYS),
        QUANTILES,
        folder / "f.parquet",
    )
    metrics = metric_rows(
        evaluate(scored, QUANTILES, ["model"]),
        evaluate(scored, QUANTILES, ["model", "fold"]),
        evaluate(scored, QUANTILES, ["model", "regime"]),
        HORIZON,
    )
    upload(wh, "zl_backtest_metrics", metrics, QUANTILES, folder / "m.parquet")
    verdicts = verdict_rows(verdict_table(scored, QUANTILES, DAYS, seed=0))
    upload(wh, "zl_backtest_verdicts", verdicts, QUANTILES, folder / "v.parquet")
    latest = view["trade_date"].max()
    shap = pd.DataFrame(
        [
            {
                "date": latest,
                "model": model,
                "fold": -1,
                "feature": feature,
                "value": (-1) ** k * 0.004 / (k + 1),
                "base_value": 0.001,
                "horizon": HORIZON,
                "model_version": f"{model}-v1",
            }
            for model in ("lgbm", "ensemble")
            for k, feature in enumerate(DRIVERS)
        ]
    )
    upload(wh, "zl_explainers_daily", explainer_rows(shap), QUANTILES, folder / "e.parquet")
    objects = sql_objects(ROOT / "sql", {HORIZON: DAYS})
    for key in deploy_order(objects):
        if key.startswith("api."):
            wh.deploy(objects[key])
    return {"view": view, "live": current}


@pytest.fixture(scope="module")
def published(
    built_warehouse: Path, config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DuckDBWarehouse, dict[str, pd.DataFrame]]]:
    folder = tmp_path_factory.mktemp("published")
    copy = folder / "copy.duckdb"
    shutil.copy(built_warehouse, copy)
    with DuckDBWarehouse(copy, config["datasets"]) as wh:
        yield wh, publish(wh, folder)


def random_walk_known_at(view: pd.DataFrame, as_of: pd.Timestamp) -> dict[float, float]:
    """The live random walk's quantiles from the outcomes matured by ``as_of`` (numpy)."""
    known = view.loc[view["target_date"] <= as_of, "target_log_return"].to_numpy(dtype=float)
    values = np.quantile(known, QUANTILES)
    return {q: v - np.quantile(known, 0.5) for q, v in zip(QUANTILES, values, strict=True)}


def test_the_live_track_record_scores_matured_live_forecasts_only(
    published: tuple[DuckDBWarehouse, dict[str, pd.DataFrame]],
) -> None:
    wh, data = published
    view, current = data["view"], data["live"]
    record = wh.query_arrow("SELECT * FROM ${api}.vw_zl_live_track_record").to_pandas()
    record = record.set_index("model")
    assert sorted(record.index) == ["ensemble", "lgbm"]
    lgbm = record.loc["lgbm"]
    # Live rows only (never the backtest rows of the same dates), one per date.
    tail = view.tail(LIVE_SESSIONS)
    matured = tail[tail["target_log_return"].notna()]
    assert 0 < len(matured) < LIVE_SESSIONS
    assert lgbm["n_live"] == LIVE_SESSIONS
    assert lgbm["n_matured"] == len(matured)
    assert lgbm["n_pending"] == LIVE_SESSIONS - len(matured)
    assert lgbm["last_matured_as_of_date"] == matured["trade_date"].max().date()
    assert lgbm["last_realised_date"] == matured["target_date"].max().date()
    # Scores over exactly the matured rows, recomputed here with the project's metrics.
    rows = current[
        (current["model"] == "lgbm")
        & (current["model_version"] == "lgbm-v1")
        & current["trade_date"].isin(matured["trade_date"])
    ].sort_values("trade_date")
    y = matured["target_log_return"].to_numpy(dtype=float)
    assert lgbm["coverage_80"] == pytest.approx(np.mean((y >= rows["q10"]) & (y <= rows["q90"])))
    published_q = [0.025, 0.1, 0.5, 0.9, 0.975]
    qcols = ["q2_5", "q10", "q50", "q90", "q97_5"]
    pinball = np.mean(
        [pinball_loss(y, rows[c], q) for q, c in zip(published_q, qcols, strict=True)]
    )
    assert lgbm["pinball_mean"] == pytest.approx(pinball)
    brier = np.mean((rows["p_up"].to_numpy() - (y > 0)) ** 2)
    assert lgbm["brier"] == pytest.approx(brier)
    assert lgbm["random_walk_brier"] == 0.25
    # The random walk known on each live date, scored on the same outcomes.
    rw_losses = []
    for as_of, outcome in zip(matured["trade_date"], y, strict=True):
        rw = random_walk_known_at(view, as_of)
        rw_losses.append(np.mean([pinball_loss([outcome], [rw[q]], q) for q in published_q]))
    assert lgbm["random_walk_pinball_mean"] == pytest.approx(np.mean(rw_losses))
    assert lgbm["pinball_skill"] == pytest.approx(1 - pinball / np.mean(rw_losses))
    assert lgbm["random_walk_mae"] == pytest.approx(np.mean(np.abs(y)))


def test_unmatured_live_forecasts_are_counted_but_never_scored(
    published: tuple[DuckDBWarehouse, dict[str, pd.DataFrame]],
) -> None:
    wh, data = published
    query = "SELECT * FROM ${api}.vw_zl_live_track_record WHERE model = 'lgbm'"
    before = wh.query_arrow(query).to_pandas()
    pending = data["view"].tail(LIVE_SESSIONS)
    pending = pending[pending["target_log_return"].isna()]
    # Wild values on every pending row: if any were scored, the scores would move.
    wh.execute("BEGIN TRANSACTION")
    try:
        wh.execute(
            "UPDATE forecasts.zl_forecasts_daily SET p_up = 1.0, q50 = 5.0, q10 = 4.0, "
            "q90 = 6.0 WHERE kind = 'live' AND model = 'lgbm' AND as_of_date >= $first",
            {"first": pending["trade_date"].min().date()},
        )
        after = wh.query_arrow(query).to_pandas()
        changed = wh.query_arrow(
            "SELECT COUNT(*) AS n FROM forecasts.zl_forecasts_daily WHERE q50 = 5.0"
        ).to_pandas()
    finally:
        wh.execute("ROLLBACK")
    assert changed["n"].iloc[0] == len(pending)
    pd.testing.assert_frame_equal(before, after)
    assert after["n_pending"].iloc[0] == len(pending)


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is not installed: run tools/install_chromium.sh (make test does)"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def build(wh: DuckDBWarehouse, config: dict[str, Any], folder: Path) -> dict[str, Any]:
    settings = dict(config["dashboard"]) | {
        "p_up_low": 0.35,
        "p_up_high": 0.65,
        "test_sessions": config["walk_forward"]["test_sessions"],
    }
    views = sorted(p.stem for p in (ROOT / "sql" / "api").glob("*.sql"))
    pngs = {name: folder / f"{name}.png" for name in CHARTS}
    return build_site(wh, settings, views, folder / "site", folder / "dashboard.html", pngs)


@pytest.fixture(scope="module")
def site(
    published: tuple[DuckDBWarehouse, dict[str, pd.DataFrame]],
    config: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    folder = tmp_path_factory.mktemp("site")
    build(published[0], config, folder)
    return folder


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """A static HTTP server on a free local port, as any static host serves the folder."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join()


def test_every_api_view_is_published_as_json(
    site: Path, published: tuple[DuckDBWarehouse, dict[str, pd.DataFrame]]
) -> None:
    wh = published[0]
    views = sorted(p.stem for p in (ROOT / "sql" / "api").glob("*.sql"))
    assert sorted(p.stem for p in (site / "site" / "api").glob("*.json")) == views

    def no_nan(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")

    for view in views:
        rows = json.loads(
            (site / "site" / "api" / f"{view}.json").read_text(), parse_constant=no_nan
        )
        frame = wh.query_arrow(f"SELECT * FROM ${{api}}.{view}").to_pandas()
        assert len(rows) == len(frame), view
        assert all(list(r) == list(frame.columns) for r in rows), view
    history = json.loads((site / "site" / "api" / "vw_zl_forecast_history.json").read_text())
    assert history[0]["as_of_date"] <= history[-1]["as_of_date"]
    pending = [r for r in history if r["kind"] == "live" and r["realised_log_return"] is None]
    assert pending and all(r["inside_80"] is None for r in pending)  # NaN and NULL -> null
    assert all(len(r["target_date"]) == 10 for r in history)  # ISO dates
    record = json.loads((site / "site" / "api" / "vw_zl_live_track_record.json").read_text())
    assert [(r["model"], r["n_matured"], r["n_live"]) for r in record] == [
        ("ensemble", 9, 30),
        ("lgbm", 9, 30),
    ]
    meta = json.loads((site / "site" / "meta.json").read_text())
    assert meta["backtest"]["sessions_to_latest_data"] > 0
    assert meta["feature_labels"]["ret_21d"] == feature_label("ret_21d") == "ZL return, 21 days"
    assert "ZL return, 21 days" in (site / "site" / "charts" / "drivers.svg").read_text()


def test_a_rerun_writes_identical_bytes(
    site: Path,
    published: tuple[DuckDBWarehouse, dict[str, pd.DataFrame]],
    config: dict[str, Any],
    tmp_path: Path,
) -> None:
    build(published[0], config, tmp_path)

    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    first = digests(site)
    assert len(first) == 1 + 1 + 1 + 7 + len(CHARTS) * 2  # html, index, meta, views, svg+png
    assert digests(tmp_path) == first


def test_the_site_over_http_shows_verdict_and_live_track_record(site: Path, tmp_path: Path) -> None:
    with serve(site / "site") as url:
        result = chromium(
            f"{url}/index.html", tmp_path / "profile", "--window-size=1280,4000", "--dump-dom"
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_errors(result.stderr) == []
    dom = result.stdout
    assert 'data-state="ready"' in dom
    assert f"{len(CHARTS)}/{len(CHARTS)} charts rendered" in dom
    assert dom.count('data-rendered="yes"') == len(CHARTS)
    fit = re.search(r"(\d+)/(\d+) tables fit", dom)
    assert fit and fit[1] == fit[2] and int(fit[1]) >= 6, "a table is wider than 1280 px"
    assert 'data-fits="no"' not in dom
    for text in (
        "The verdict: is there skill",
        "no significant difference",
        "Live track record",
        "n matured = 9, too few to judge (needs 60)",
        "9 / 30",
        "Headline forecast (ensemble)",
        "stale data",
        "sessions before the latest data",
        "whole windows of 126 sessions",
        "ZL return, 21 days",
        'href="api/vw_zl_live_track_record.json"',
    ):
        assert text in dom, text


def test_the_width_check_catches_a_table_too_wide(site: Path, tmp_path: Path) -> None:
    """At 700 px the wide tables overflow: the page's own check must say so."""
    with serve(site / "site") as url:
        result = chromium(
            f"{url}/index.html", tmp_path / "profile", "--window-size=700,3000", "--dump-dom"
        )
    fit = re.search(r"(\d+)/(\d+) tables fit", result.stdout)
    assert fit and int(fit[1]) < int(fit[2])
    assert 'data-fits="no"' in result.stdout


def test_screenshots_are_kept_as_artifacts(site: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {"site": ARTIFACTS / "site.png", "dashboard": ARTIFACTS / "dashboard.png"}
    for shot in shots.values():
        shot.unlink(missing_ok=True)
    size = "--window-size=1280,4200"
    with serve(site / "site") as url:
        served = chromium(
            f"{url}/index.html", tmp_path / "a", size, f"--screenshot={shots['site']}"
        )
    # The one-file copy, opened from disk: nothing fetched, the same page.
    from_disk = chromium(
        (site / "dashboard.html").as_uri(),
        tmp_path / "b",
        size,
        f"--screenshot={shots['dashboard']}",
    )
    for result in (served, from_disk):
        assert result.returncode == 0, result.stderr[-2000:]
        assert console_errors(result.stderr) == []
    assert all(shot.stat().st_size > 100_000 for shot in shots.values())


def test_the_one_file_copy_works_from_disk(site: Path, tmp_path: Path) -> None:
    result = chromium((site / "dashboard.html").as_uri(), tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_errors(result.stderr) == []
    assert 'data-state="ready"' in result.stdout
    assert f"{len(CHARTS)}/{len(CHARTS)} charts rendered" in result.stdout
    assert "one-file copy, data embedded" in result.stdout
    assert "n matured = 9, too few to judge" in result.stdout


def test_a_missing_file_is_a_console_error(site: Path, tmp_path: Path) -> None:
    broken = tmp_path / "site"
    shutil.copytree(site / "site", broken)
    (broken / "api" / "vw_zl_live_track_record.json").unlink()
    with serve(broken) as url:
        result = chromium(f"{url}/index.html", tmp_path / "profile", "--dump-dom")
    assert 'data-state="error"' in result.stdout
    errors = console_errors(result.stderr)
    assert any("vw_zl_live_track_record.json: HTTP 404" in line for line in errors), errors


def test_the_console_check_catches_a_script_error(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>notDefinedAnywhere();</script></body></html>")
    result = chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert any("notDefinedAnywhere" in line for line in console_errors(result.stderr))


def test_a_warehouse_without_the_views_is_a_clear_error(
    published: tuple[DuckDBWarehouse, dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    settings = {"history_sessions": 100, "top_drivers": 5}
    views = [p.stem for p in (ROOT / "sql" / "api").glob("*.sql") if "live" not in p.stem]
    with pytest.raises(SiteError, match=r"needs the API views \['vw_zl_live_track_record'\]"):
        build_site(published[0], settings, views, tmp_path / "site")
    assert not (tmp_path / "site").exists()
