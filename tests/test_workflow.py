"""The real Snakemake workflow on the bundled sample: build, staleness, concurrency, dry-runs.

Each test works on a private copy of the workflow in a temporary folder and drives the
real `snakemake` command line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_wap import published_fingerprints
from workflow_tools import ROOT, SNAKEMAKE, copy_workflow

from zlflow.warehouse.duckdb import DuckDBWarehouse

RESULTS = Path("results", "default")
SMALL = str(ROOT / "tests" / "configs" / "small.yaml")

pytestmark = pytest.mark.slow


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [SNAKEMAKE, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        env=None if env is None else os.environ | env,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def planned_jobs(workdir: Path, *targets: str) -> set[tuple[str, str]]:
    """(rule, first output) of every job a dry-run would execute."""
    return planned_jobs_from(snakemake(workdir, "-n", *targets).stdout)


def planned_jobs_from(out: str) -> set[tuple[str, str]]:
    """(rule, first output) of every job in a dry-run's output."""
    jobs: set[tuple[str, str]] = set()
    rule = None
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


def one_horizon(workdir: Path) -> Path:
    """Make the copy's default config forecast the 1m horizon only."""
    config = workdir / "config" / "config.yaml"
    text = config.read_text()
    assert "horizons:\n  1w: 5\n  1m: 21\n  3m: 63\n" in text
    config.write_text(text.replace("  1w: 5\n  1m: 21\n  3m: 63\n", "  1m: 21\n"))
    return workdir


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workflow copy run end to end with 8 cores and no warehouse resource limit,
    so several warehouse jobs start at once and must queue on the DuckDB file lock.

    The copy forecasts the 1m horizon only (the default has three): an overlay cannot
    remove a horizon, and one horizon proves every modelling step at a third of the cost.
    """
    workdir = one_horizon(copy_workflow(tmp_path_factory.mktemp("workflow")))
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
    logs = list((built / RESULTS / "logs").rglob("*.log"))
    for log in logs:
        assert log.stat().st_size > 0, log
    # Every job has a log and a benchmark file at the same relative path.
    benchmarks = (built / RESULTS / "benchmarks").rglob("*.tsv")
    as_jobs = {p.relative_to(built / RESULTS / "benchmarks").with_suffix("") for p in benchmarks}
    assert as_jobs == {p.relative_to(built / RESULTS / "logs").with_suffix("") for p in logs}
    assert len(logs) >= 25
    with DuckDBWarehouse(built / RESULTS / "warehouse.duckdb", {"training": "training"}) as wh:
        assert wh.table_info("training", "vw_zl_1m_v1").kind == "view"
        rows = wh.query_arrow("SELECT COUNT(*) AS n FROM ${training}.vw_zl_1m_v1")
        assert rows.column("n")[0].as_py() > 4000


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
            ("publish_warehouse", "results/default/published.json"),
            ("export_training", "results/default/export/zl_1m_v1.parquet"),
            ("export", ""),
        }
        # Run it for real with the default profile (2 cores), then nothing is stale.
        snakemake(built, "export")
        assert "Nothing to be done" in snakemake(built, "-n", "export").stdout
        # The publish copied the two rebuilt tables only (the view is recreated).
        published = json.loads((built / RESULTS / "published.json").read_text())
        assert sorted(published["copied"]) == [
            "features.cross_asset_daily",
            "features.zl_daily_v1",
        ]
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


def test_a_bad_user_file_is_said_once_and_publishes_nothing(built: Path) -> None:
    """The documented user-file path (`source: files`): a ZL file with two bad rows is
    refused by its load job, named once with file, line and rule and no traceback, and
    no published table or view changes. It runs as its own experiment on a copy of the
    built warehouse, so the module's copy stays up to date."""
    bars = pd.read_parquet(ROOT / "data" / "sample" / "zl_daily_tradingview.parquet")
    bars = bars.reset_index()
    bars.loc[10, "close"] = -1.0
    bars.loc[20, "high"] = 1.0
    bars.to_csv(built / "my_zl.csv", index=False)
    entry = (
        "{path: my_zl.csv, symbol: ZL, source: tradingview, "
        "label_kind: session_open_sao_paulo, columns: {date: datetime}}"
    )
    files = built / "my_files.yaml"
    files.write_text(
        f"experiment: mine\nsource: files\nfiles:\n  raw_futures_daily:\n    - {entry}\n"
    )
    database = built / "results" / "mine" / "warehouse.duckdb"
    database.parent.mkdir(parents=True)
    shutil.copy(built / RESULTS / "warehouse.duckdb", database)
    datasets = yaml.safe_load((built / "config" / "config.yaml").read_text())["datasets"]
    before = published_fingerprints(database, datasets)
    target = "results/mine/warehouse/market_data/raw_futures_daily.json"
    result = snakemake(built, target, "--configfile", str(files), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count("2 problem(s), nothing loaded into raw_futures_daily") == 1
    assert "my_zl.csv: prices must be > 0" in output and "row 10 (line 12)" in output
    assert "Traceback" not in output
    assert published_fingerprints(database, datasets) == before
    log = (built / "results" / "mine" / "logs" / "load_raw" / "raw_futures_daily.log").read_text()
    assert "Traceback" in log  # the job log keeps it


def test_modelling_end_to_end_on_a_small_config(built: Path) -> None:
    """Folds, tuning, one job per (model, fold), calibration, metrics, live forecast, report."""
    snakemake(built, "--cores", "2", "--configfile", SMALL)
    results = built / RESULTS
    folds = pd.read_csv(results / "folds" / "1m" / "fold_table.csv")
    assert folds["fold"].tolist() == [0, 1]
    assert (folds["purged_rows"] >= folds["horizon_days"]).all()
    for fold in folds["fold"]:
        for model, saved in (("lgbm", "q50.txt"), ("tft", "model.pt")):
            base = results / "models" / model / "1m" / f"fold_{fold}"
            assert (base / "model" / saved).exists()
            assert (base / "predictions.parquet").exists() and (base / "shap.parquet").exists()
            log = results / "logs" / "fit" / model / "1m" / f"fold_{fold}.log"
            assert log.stat().st_size > 0
        weights = pd.read_parquet(
            results / "models" / "tft" / "1m" / f"fold_{fold}" / "interpretation.parquet"
        )
        assert weights["feature"].str.startswith("attention:t-").any()
    assert "epoch 1/1" in (results / "logs" / "fit" / "tft" / "1m" / "fold_0.log").read_text()
    metrics = pd.read_csv(results / "metrics" / "1m" / "metrics.csv")
    assert set(metrics["model"]) == {
        "lgbm",
        "tft",
        "ensemble",
        "random_walk",
        "drift",
        "climatology",
        "garch",
    }
    verdicts = pd.read_csv(results / "metrics" / "1m" / "verdicts.csv")
    assert {"lgbm", "tft", "ensemble"} <= set(verdicts["model"])
    assert verdicts["p_value"].between(0, 1).all()
    summary = (results / "metrics" / "1m" / "summary.txt").read_text()
    assert summary.startswith("Horizon 1m (21 sessions)")
    assert "ensemble at 1m (21 sessions):" in summary and "CRPS: " in summary
    forecast = pd.read_parquet(results / "forecast" / "1m" / "forecast.parquet")
    assert forecast["model"].tolist() == ["lgbm", "tft", "ensemble"]
    assert forecast["calibrated"].all()
    for row in forecast.to_dict("records"):
        assert row["target_date"] > row["as_of_date"]
        assert row["price_q5"] <= row["price_q50"] <= row["price_q95"]
        assert 0 <= row["p_up"] <= 1
        assert row["model_version"].startswith(f"{row['model']}-")
    for plot in (
        "folds",
        "skill",
        "coverage",
        "reliability",
        "pit",
        "fan",
        "drivers",
        "interpretation",
    ):
        assert (results / "plots" / "1m" / f"{plot}.png").stat().st_size > 10_000
    with DuckDBWarehouse(results / "warehouse.duckdb", {"training": "training"}) as wh:
        assert wh.table_info("training", "walk_forward_folds").rows == 2
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["config"]["tuning"]["n_trials"] == 2  # the overlay is recorded
    assert manifest["data"]["zl_1m_v1"]["rows"] > 4000
    publish = results / "publish"
    assert (publish / "dashboard.html").stat().st_size > 50_000
    alerts = json.loads((publish / "alerts.json").read_text())
    assert "stale_data" in {a["alert_type"] for a in alerts["alerts"]}
    with DuckDBWarehouse(results / "warehouse.duckdb", {"api": "api"}) as wh:
        latest = wh.query_arrow("SELECT * FROM ${api}.vw_zl_latest_forecast").to_pandas()
    assert sorted(latest["model"]) == ["ensemble", "lgbm", "tft"]
    assert "Nothing to be done" in snakemake(built, "-n", "--configfile", SMALL).stdout
    snakemake(built, "--configfile", SMALL, "--report", "report.html")
    assert (built / "report.html").stat().st_size > 100_000


def model_files(results: Path) -> dict[str, Path]:
    """Every fold's predictions, drivers and weights and the tuned parameters of a run."""
    names = ("predictions.parquet", "shap.parquet", "interpretation.parquet")
    files = [p for p in (results / "models").rglob("*.parquet") if p.name in names]
    files += list((results / "models").rglob("best_params.json"))
    return {str(p.relative_to(results)): p for p in sorted(files)}


def test_two_fresh_runs_with_the_same_config_agree(
    built: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Same config and data in two fresh folders: byte-identical export, tuned parameters,
    and every fold's predictions, drivers and TFT weights.

    DuckDB runs one thread per job (`duckdb.threads: 1`), so window sums add in one order;
    LightGBM and the TFT are seeded and deterministic on the CPU.
    """
    other = one_horizon(copy_workflow(tmp_path_factory.mktemp("again")))
    snakemake(other, "models", "--cores", "2", "--configfile", SMALL)  # up to the folds
    second = model_files(other / RESULTS)
    first = {name: built / RESULTS / name for name in second}
    assert len(second) == 2 + 2 * 2 * 3  # tuned params; predictions, drivers, weights
    export = Path("export", "zl_1m_v1.parquet")
    first[str(export)], second[str(export)] = built / RESULTS / export, other / RESULTS / export
    differ = [name for name in first if first[name].read_bytes() != second[name].read_bytes()]
    assert differ == [], differ


def executed_jobs(output: str) -> set[str]:
    """Rules of the jobs a real run executed, from Snakemake's log."""
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", output, flags=re.MULTILINE))


def overlay(workdir: Path, name: str, text: str) -> str:
    """A config overlay file in the workflow copy (applied after the small config)."""
    path = workdir / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def model_jobs(jobs: set[tuple[str, str]]) -> dict[str, set[str]]:
    """Planned model-specific jobs by model: rule and fold (or the rule alone)."""
    out: dict[str, set[str]] = {}
    for rule, output in jobs:
        match = re.search(r"/models/(\w+)/1m/(?:fold_(\d+)/)?", output)
        if match:
            out.setdefault(match.group(1), set()).add(f"{rule}{match.group(2) or ''}")
    return out


WAREHOUSE_RULES = {
    "load_raw",
    "load_reference",
    "deploy_object",
    "run_assertion",
    "publish_warehouse",
    "export_training",
}


def warehouse_jobs(jobs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Planned jobs that rebuild the warehouse below the API views (which are redeployed
    cheaply after every upload because they read the uploaded tables)."""
    return {(r, o) for r, o in jobs if r in WAREHOUSE_RULES and "/warehouse/api/" not in o}


def test_lightgbm_parameters_rerun_lightgbm_jobs_only(built: Path) -> None:
    lgbm = overlay(built, "lgbm", "model_params: {lgbm: {lambda_l2: 2.5}}\n")
    jobs = planned_jobs(built, "--configfile", SMALL, lgbm)
    rules = {rule for rule, _ in jobs}
    assert model_jobs(jobs) == {
        "lgbm": {"tune", "fit_fold0", "fit_fold1", "calibrate", "live_forecast"},
        "ensemble": {"ensemble"},
    }
    assert {"metrics", "plots", "upload_forecasts", "dashboard"} <= rules
    assert not rules & {"walk_forward_folds", "baselines"} and not warehouse_jobs(jobs)


def test_a_new_seed_retrains_every_model_but_not_the_warehouse(built: Path) -> None:
    jobs = planned_jobs(built, "--configfile", SMALL, "--config", "seed=7")
    every = {"tune", "fit_fold0", "fit_fold1", "calibrate", "live_forecast"}
    assert model_jobs(jobs) == {"lgbm": every, "tft": every, "ensemble": {"ensemble"}}
    assert not warehouse_jobs(jobs)


def test_editing_the_tft_code_reruns_tft_jobs_only(built: Path) -> None:
    """The workflow imports zlflow from a copy of the source, then one TFT module changes."""
    source = built / "src"
    shutil.copytree(ROOT / "src", source, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(source)}
    try:
        assert "Nothing to be done" in snakemake(built, "-n", "--configfile", SMALL, env=env).stdout
        edit(source / "zlflow" / "models" / "tft" / "layers.py", "\n# edited by a test\n")
        out = snakemake(built, "-n", "--configfile", SMALL, env=env).stdout
        jobs = planned_jobs_from(out)
        assert model_jobs(jobs) == {
            "tft": {"tune", "fit_fold0", "fit_fold1", "calibrate", "live_forecast"},
            "ensemble": {"ensemble"},
        }
        assert not warehouse_jobs(jobs)
    finally:
        shutil.rmtree(source)


def executed_folds(output: str) -> set[tuple[str, int]]:
    """(model, fold) of every fit_fold job a real run executed."""
    return {
        (model, int(fold))
        for model, fold in re.findall(
            r"rule fit_fold:\n(?:    .*\n)*?    wildcards: model=(\w+), horizon=1m, fold=(\d+)",
            output,
        )
    }


def test_adding_a_fold_adds_its_jobs_and_reruns_no_other_fold(built: Path) -> None:
    """Up to the fold fits (`models`): what runs after them is the same for any new fold."""
    three = overlay(built, "three_folds", "walk_forward: {max_folds: 3}\n")
    result = snakemake(built, "models", "--cores", "2", "--configfile", SMALL, three)
    output = result.stdout + result.stderr
    assert executed_folds(output) == {("lgbm", 2), ("tft", 2)}
    assert "tune" not in executed_jobs(output)
    folds = pd.read_csv(built / RESULTS / "folds" / "1m" / "fold_table.csv")
    assert folds["fold"].tolist() == [0, 1, 2]
    assert (
        "Nothing to be done"
        in snakemake(built, "-n", "models", "--configfile", SMALL, three).stdout
    )


def test_a_revised_bar_reruns_exactly_the_folds_whose_windows_include_it(built: Path) -> None:
    """A close revised in the middle of fold 1's test window changes fold 1's test rows
    and fold 2's training rows (expanding window); fold 0 ends before it."""
    three = overlay(built, "three_folds", "walk_forward: {max_folds: 3}\n")
    folds = pd.read_csv(built / RESULTS / "folds" / "1m" / "fold_table.csv", parse_dates=True)
    fold1 = folds.set_index("fold").loc[1]
    sample = built / "data" / "sample"
    if sample.is_symlink():
        sample.unlink()
        shutil.copytree(ROOT / "data" / "sample", sample)
    path = sample / "zl_daily_tradingview.parquet"
    zl = pd.read_parquet(path)
    middle = pd.Timestamp(fold1["test_start"]) + pd.Timedelta(days=90)
    assert middle < pd.Timestamp(fold1["test_end"])
    label = zl.index[(zl.index > middle) & (zl["high"] > zl["close"] + 0.2)][0]
    zl.loc[label, "close"] = (zl.loc[label, "close"] + zl.loc[label, "high"]) / 2
    zl.to_parquet(path)
    result = snakemake(built, "models", "--cores", "2", "--configfile", SMALL, three)
    output = result.stdout + result.stderr
    assert executed_folds(output) == {(m, k) for m in ("lgbm", "tft") for k in (1, 2)}
    assert "tune" not in executed_jobs(output)
