"""The static dashboard in a real headless Chromium: loads from disk, no console errors,
every chart rendered; a screenshot is kept in test-artifacts/."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_publish import deploy_api, publish_all

from zlflow.dashboard import CHARTS, build_dashboard
from zlflow.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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
]


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is not installed: run tools/install_chromium.sh (make test does)"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def dashboard(
    built_warehouse: Path, config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    folder = tmp_path_factory.mktemp("dashboard")
    copy = folder / "copy.duckdb"
    shutil.copy(built_warehouse, copy)
    with DuckDBWarehouse(copy, config["datasets"]) as wh:
        publish_all(wh, folder)
        deploy_api(wh)
        settings = dict(config["dashboard"]) | {"p_up_low": 0.35, "p_up_high": 0.65}
        charts = {name: str(folder / f"{name}.png") for name in CHARTS}
        build_dashboard(wh, settings, folder / "dashboard.html", charts)
    return folder / "dashboard.html"


def test_dashboard_loads_without_console_errors_and_renders_every_chart(
    dashboard: Path, tmp_path: Path
) -> None:
    result = chromium(dashboard, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{len(CHARTS)}/{len(CHARTS)} charts rendered" in result.stdout
    assert result.stdout.count('data-rendered="yes"') == len(CHARTS)
    assert console_errors(result.stderr) == []
    for text in ("Active alerts", "stale_data", "Latest forecast", "Top drivers", "random_walk"):
        assert text in result.stdout


def test_screenshot_is_kept_as_an_artifact(dashboard: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    result = chromium(
        dashboard, tmp_path / "profile", "--window-size=1200,2600", f"--screenshot={shot}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 50_000
    assert console_errors(result.stderr) == []


def test_the_console_check_catches_a_script_error(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>notDefinedAnywhere();</script></body></html>")
    result = chromium(page, tmp_path / "profile", "--dump-dom")
    assert any("notDefinedAnywhere" in line for line in console_errors(result.stderr))
