"""The real Snakemake workflow on the bundled sample: build, staleness, concurrency, dry-runs.

Each test works on a private copy of the workflow in a temporary folder and drives the
real `snakemake` command line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from zlflow.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
WORKFLOW = ("Snakefile", "rules", "scripts", "sql", "config", "profiles", "report", "envs")
RESULTS = Path("results", "default")

pytestmark = pytest.mark.slow


def copy_workflow(target: Path) -> Path:
    for name in WORKFLOW:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)
    (target / "data").mkdir()
    (target / "data" / "sample").symlink_to(ROOT / "data" / "sample")
    return target


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=900
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def planned_jobs(workdir: Path, *targets: str) -> set[tuple[str, str]]:
    """(rule, first output) of every job a dry-run would execute."""
    out = snakemake(workdir, "-n", *targets).stdout
    jobs, rule = set(), None
    for line in out.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line)
        if match:
            rule = match.group(1)
        elif rule and line.startswith("    output: "):
            jobs.add((rule, line.removeprefix("    output: ").split(", ")[0]))
            rule = None
        elif rule and not line.startswith("    "):
            jobs.add((rule, ""))
            rule = None
    return jobs


def edit(path: Path, extra: str = "\n-- edited by a test\n") -> None:
    path.write_text(path.read_text() + extra)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workflow copy run end to end with 8 cores and no warehouse resource limit,
    so several warehouse jobs start at once and must queue on the DuckDB file lock."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    snakemake(workdir, "export", "--cores", "8", "--resources", "warehouse=100")
    return workdir


def test_dry_run_and_dag_inspection_touch_nothing(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path)
    assert "Job stats" in snakemake(workdir, "-n").stdout
    assert "digraph" in snakemake(workdir, "--dag").stdout
    assert "digraph" in snakemake(workdir, "--rulegraph").stdout
    summary = snakemake(workdir, "--summary").stdout
    assert "results/default/export/zl_1m_v1.parquet" in summary
    assert not (workdir / "results").exists()


def test_full_run_builds_every_layer_and_exports(built: Path) -> None:
    export = built / RESULTS / "export" / "zl_1m_v1.parquet"
    assert export.stat().st_size > 100_000
    assert (built / RESULTS / "export" / "zl_1m_v1.json").exists()
    for log in (built / RESULTS / "logs").rglob("*.log"):
        assert log.stat().st_size > 0, log
    assert len(list((built / RESULTS / "benchmarks").rglob("*.tsv"))) >= 30
    with DuckDBWarehouse(built / RESULTS / "warehouse.duckdb", {"training": "training"}) as wh:
        assert wh.table_info("training", "vw_zl_1m_v1").rows > 4000


def test_nothing_to_do_after_a_full_run(built: Path) -> None:
    assert "Nothing to be done" in snakemake(built, "-n", "export").stdout


def test_editing_a_feature_reruns_it_and_its_dependents_only(built: Path) -> None:
    sql = built / "sql" / "features" / "cross_asset_daily.sql"
    original = sql.read_text()
    edit(sql)
    try:
        assert planned_jobs(built, "export") == {
            ("deploy_object", "results/default/warehouse/features/cross_asset_daily.json"),
            ("deploy_object", "results/default/warehouse/features/zl_daily_v1.json"),
            ("deploy_object", "results/default/warehouse/training/vw_zl_1m_v1.json"),
            ("run_assertion", "results/default/assertions/features_nulls_only_in_warmup.json"),
            ("run_assertion", "results/default/assertions/layer_row_counts.json"),
            ("export_training", "results/default/export/zl_1m_v1.parquet"),
            ("export", ""),
        }
        # Run it for real with the default profile (2 cores), then nothing is stale.
        snakemake(built, "export")
        assert "Nothing to be done" in snakemake(built, "-n", "export").stdout
    finally:
        sql.write_text(original)
    snakemake(built, "export")  # the restored file is a change too: bring it up to date


def test_editing_an_assertion_reruns_that_assertion_only(built: Path) -> None:
    sql = built / "sql" / "assertions" / "staging_ohlc_consistent.sql"
    original = sql.read_text()
    edit(sql)
    try:
        assert planned_jobs(built, "export") == {
            ("run_assertion", "results/default/assertions/staging_ohlc_consistent.json")
        }
    finally:
        sql.write_text(original)


def test_a_failing_assertion_stops_the_run_and_leaves_no_marker(built: Path) -> None:
    sql = built / "sql" / "assertions" / "staging_price_bounds.sql"
    marker = built / RESULTS / "assertions" / "staging_price_bounds.json"
    export = built / RESULTS / "export" / "zl_1m_v1.parquet"
    original, before = sql.read_text(), export.read_bytes()
    sql.write_text(
        original.replace(
            "SELECT 'ZL' AS symbol, 5.0 AS min_close, 250.0",
            "SELECT 'ZL' AS symbol, 5.0 AS min_close, 50.0",
        )
    )
    try:
        result = snakemake(built, "export", check=False)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert "assertion staging_price_bounds failed" in output
        assert re.search(r"\d+ offending row\(s\)", output)
        assert "ZL" in output
        assert not marker.exists()
        assert export.read_bytes() == before
    finally:
        sql.write_text(original)
    snakemake(built, "--cores", "2", "export")
    assert marker.exists()


def test_modelling_end_to_end_on_a_small_config(built: Path) -> None:
    """Folds, tuning, one job per (model, fold), calibration, metrics, live forecast, report."""
    small = str(ROOT / "tests" / "configs" / "small.yaml")
    snakemake(built, "--cores", "2", "--configfile", small)
    results = built / RESULTS
    folds = pd.read_csv(results / "folds" / "1m" / "fold_table.csv")
    assert folds["fold"].tolist() == [0, 1, 2]
    assert (folds["purged_rows"] >= folds["horizon_days"]).all()
    for fold in folds["fold"]:
        base = results / "models" / "lgbm" / "1m" / f"fold_{fold}"
        assert (base / "model" / "q50.txt").exists()
        assert (base / "predictions.parquet").exists() and (base / "shap.parquet").exists()
        assert (results / "logs" / "fit" / "lgbm" / "1m" / f"fold_{fold}.log").stat().st_size > 0
    metrics = pd.read_csv(results / "metrics" / "1m" / "metrics.csv")
    assert set(metrics["model"]) == {"lgbm", "random_walk", "drift", "climatology"}
    summary = (results / "metrics" / "1m" / "summary.txt").read_text()
    assert "the random walk on mean pinball loss" in summary
    forecast = pd.read_parquet(results / "forecast" / "1m" / "forecast.parquet")
    assert len(forecast) == 1
    row = forecast.iloc[0]
    assert row["target_date"] > row["as_of_date"]
    assert row["price_q5"] <= row["price_q50"] <= row["price_q95"]
    assert 0 <= row["p_up"] <= 1
    assert row["model_version"].startswith("lgbm-")
    for plot in ("folds", "skill", "coverage", "fan", "drivers"):
        assert (results / "plots" / "1m" / f"{plot}.png").stat().st_size > 10_000
    with DuckDBWarehouse(results / "warehouse.duckdb", {"training": "training"}) as wh:
        assert wh.table_info("training", "walk_forward_folds").rows == 3
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["config"]["tuning"]["n_trials"] == 2  # the overlay is recorded
    assert manifest["data"]["zl_1m_v1"]["rows"] > 4000
    publish = results / "publish"
    assert (publish / "dashboard.html").stat().st_size > 50_000
    alerts = json.loads((publish / "alerts.json").read_text())
    assert "stale_data" in {a["alert_type"] for a in alerts["alerts"]}
    with DuckDBWarehouse(results / "warehouse.duckdb", {"api": "api"}) as wh:
        latest = wh.query_arrow("SELECT * FROM ${api}.vw_zl_latest_forecast").to_pandas()
    assert latest["model"].tolist() == ["lgbm"]
    assert "Nothing to be done" in snakemake(built, "-n", "--configfile", small).stdout
    snakemake(built, "--configfile", small, "--report", "report.html")
    assert (built / "report.html").stat().st_size > 100_000


def executed_jobs(output: str) -> set[str]:
    """Rules of the jobs a real run executed, from Snakemake's log."""
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", output, flags=re.MULTILINE))


def test_a_new_trading_day_reruns_the_live_model_but_no_fold(built: Path) -> None:
    """Appending one bar re-runs ingest, warehouse, export, the live forecast and publishing;
    every fold's rows are unchanged, so no fold job (nor the tuning) runs again."""
    small = str(ROOT / "tests" / "configs" / "small.yaml")
    sample = built / "data" / "sample"
    sample.unlink()
    shutil.copytree(ROOT / "data" / "sample", sample)
    zl = pd.read_parquet(sample / "zl_daily_tradingview.parquet")
    extra = pd.DataFrame(
        {"open": [44.5], "high": [45.1], "low": [44.2], "close": [44.9], "volume": [51000.0]},
        index=pd.DatetimeIndex([pd.Timestamp("2024-06-23 21:00")], name=zl.index.name),
    )
    pd.concat([zl, extra]).to_parquet(sample / "zl_daily_tradingview.parquet")
    result = snakemake(built, "--cores", "2", "--configfile", small)
    jobs = executed_jobs(result.stdout + result.stderr)
    assert {"load_raw", "export_training", "walk_forward_folds", "live_forecast"} <= jobs
    assert {"upload_forecasts", "dashboard"} <= jobs
    assert not jobs & {"fit_fold", "tune"}, jobs
    forecast = pd.read_parquet(built / RESULTS / "forecast" / "1m" / "forecast.parquet")
    assert forecast["as_of_date"].iloc[0] == pd.Timestamp("2024-06-24")
