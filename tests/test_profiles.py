"""Execution profiles: the SLURM and Google Batch scale-out profiles parse, name real
rules and plugin settings, and dry-run.

A dry-run with ``--executor slurm`` fails at argument parsing unless the executor plugin
is installed, so a passing dry-run also proves the plugin in the dev extra is there. Runs
on a private copy of the workflow: nothing is submitted and nothing is built.
"""

from __future__ import annotations

import configparser
import dataclasses
import datetime as dt
import importlib
import importlib.util
import json
import os
import plistlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from filelock import FileLock
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from workflow_tools import ROOT, SNAKEMAKE, copy_workflow

PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("profiles"))


def rule_names() -> set[str]:
    text = "\n".join(p.read_text() for p in [ROOT / "Snakefile", *ROOT.glob("rules/*.smk")])
    return set(re.findall(r"^(?:rule|checkpoint) (\w+):", text, flags=re.MULTILINE))


def test_slurm_profile_sets_the_executor_and_names_real_rules() -> None:
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["jobs"] >= 10
    assert "warehouse=1" in profile["resources"]
    unknown = set(profile["set-resources"]) - rule_names()
    assert not unknown, f"set-resources names rules that do not exist: {unknown}"
    assert {"fit_fold", "tune"} <= set(profile["set-resources"])


@pytest.mark.parametrize(
    ("overlay", "results"),
    [((), "results/default"), (("--configfile", "config/bigquery.yaml"), "results/bigquery")],
    ids=["duckdb", "bigquery"],
)
def test_dry_run_with_the_slurm_profile(
    workdir: Path, overlay: tuple[str, ...], results: str
) -> None:
    """The whole default target plans under the SLURM executor (up to the fold checkpoint)."""
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--profile", "profiles/slurm", *overlay],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out = result.stdout + result.stderr
    assert "Using profiles profiles/slurm" in out
    assert re.search(r"^total\s+\d+", out, flags=re.MULTILINE)
    assert f"output: {results}/export/zl_1m_v1.parquet" in out
    assert "mem_mb=2000" in out and "runtime=30" in out  # the profile's default resources
    assert not (workdir / results).exists(), "a dry-run must not build anything"


# --- Google Batch -----------------------------------------------------------------------

GOOGLEBATCH = ROOT / "profiles" / "googlebatch" / "config.yaml"
BUCKET, PREFIX = "zlflow-results", "zlflow"


def plugin_settings(module: str, name: str) -> set[str] | None:
    """A plugin's setting names as profile keys, or None when it is not installed."""
    if importlib.util.find_spec(module) is None:
        return None
    cls = getattr(importlib.import_module(module), name)
    return {f.name.replace("_", "-") for f in dataclasses.fields(cls)}


def test_googlebatch_profile_names_the_executor_storage_and_real_rules() -> None:
    profile = yaml.safe_load(GOOGLEBATCH.read_text())
    assert profile["executor"] == "googlebatch"
    assert profile["default-storage-provider"] == "gcs"
    assert profile["default-storage-prefix"] == f"gs://{BUCKET}/{PREFIX}"
    assert "warehouse=1" in profile["resources"]
    rules = rule_names()
    assert set(profile["set-resources"]) <= rules and {"fit_fold", "tune"} <= rules
    assert set(profile["preemptible-rules"]) <= rules
    # Every storage-gcs-* key is a setting of the GCS storage plugin (in the dev extra)...
    gcs = plugin_settings("snakemake_storage_plugin_gcs", "StorageProviderSettings")
    assert gcs is not None, "snakemake-storage-plugin-gcs (dev extra) is not installed"
    storage_keys = {k.removeprefix("storage-gcs-") for k in profile if k.startswith("storage-gcs-")}
    assert storage_keys and storage_keys <= gcs
    # ... and every googlebatch-* key one of the executor's, when its extra is installed.
    batch_keys = {k.removeprefix("googlebatch-") for k in profile if k.startswith("googlebatch-")}
    assert {"region", "machine-type", "image-family"} <= batch_keys
    executor = plugin_settings("snakemake_executor_plugin_googlebatch", "ExecutorSettings")
    if executor is not None:
        assert batch_keys <= executor
        per_rule = {k for r in profile["set-resources"].values() for k in r}
        assert {k.removeprefix("googlebatch_") for k in per_rule if "googlebatch" in k} <= {
            k.replace("-", "_") for k in executor
        }


def fake_gcs(server: HTTPServer, workdir: Path) -> list[str]:
    """Serve the GCS JSON API's read calls over the files a run finds in the bucket
    once the documented upload is done (data/sample and sql under the prefix); every
    other object is missing. Returns the log of requested paths."""
    uploaded = {
        f"{PREFIX}/{sub}/{path.relative_to(base).as_posix()}": path
        for sub in ("data/sample", "sql")
        for base in [(workdir / sub).resolve()]
        for path in base.rglob("*")
        if path.is_file()
    }
    requests: list[str] = []

    def meta(name: str) -> dict[str, str]:
        stat = uploaded[name].stat()
        updated = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"name": name, "bucket": BUCKET, "size": str(stat.st_size), "updated": updated}

    def handler(request: Request) -> Response:
        requests.append(request.path)
        match = re.fullmatch(rf"/storage/v1/b/{BUCKET}(/o(?:/(.+))?)?", request.path)
        if match is None:
            return Response(json.dumps({"error": {"code": 404}}), status=404)
        if match.group(1) is None:  # the bucket
            body: dict[str, Any] = {"name": BUCKET}
        elif match.group(2) is None:  # a listing
            prefix = request.args.get("prefix", "")
            body = {"items": [meta(n) for n in uploaded if n.startswith(prefix)]}
        elif unquote(match.group(2)) in uploaded:
            body = meta(unquote(match.group(2)))
        else:
            return Response(json.dumps({"error": {"code": 404}}), status=404)
        return Response(json.dumps(body), content_type="application/json")

    server.expect_request(re.compile("/storage/.*"), method="GET").respond_with_handler(handler)
    return requests


def test_dry_run_with_the_googlebatch_profile_against_a_local_gcs(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """The default target plans with every file on gs:// (no credentials: the GCS client
    talks to a local fake through STORAGE_EMULATOR_HOST). Without the googlebatch extra
    the executor keys are left out, since Snakemake refuses an executor it cannot load;
    with it installed, the profile runs exactly as committed."""
    workdir = copy_workflow(tmp_path / "workflow")
    requests = fake_gcs(httpserver, workdir)
    profile = yaml.safe_load(GOOGLEBATCH.read_text())
    if plugin_settings("snakemake_executor_plugin_googlebatch", "ExecutorSettings") is None:
        profile = {
            k: v for k, v in profile.items() if k != "executor" and not k.startswith("googlebatch")
        }
    (workdir / "profiles" / "googlebatch" / "config.yaml").write_text(yaml.safe_dump(profile))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env |= {
        "STORAGE_EMULATOR_HOST": httpserver.url_for("").rstrip("/"),
        "SNAKEMAKE_GOOGLEBATCH_PROJECT": "zlflow-test",
        "SNAKEMAKE_STORAGE_GCS_PROJECT": "zlflow-test",
    }
    overlay = "config/bigquery.yaml"
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--profile", "profiles/googlebatch", "--configfile", overlay],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    results = f"gs://{BUCKET}/{PREFIX}/results/bigquery"
    assert f"{results}/export/zl_1m_v1.parquet" in out
    assert re.search(r"^total\s+\d+", out, flags=re.MULTILINE)
    assert "mem_mb=2000" in out and "runtime=30" in out
    assert f"/storage/v1/b/{BUCKET}/o" in requests  # the plan asked the (fake) bucket
    assert not (workdir / "results").exists(), "a dry-run must not build anything"


# --- the morning run and its schedules ---------------------------------------------------

DEPLOY = ROOT / "deploy"


def test_the_launchd_plist_runs_the_daily_script_on_weekday_mornings() -> None:
    plist = plistlib.loads((DEPLOY / "launchd" / "com.zlflow.daily.plist").read_bytes())
    assert plist["Label"] == "com.zlflow.daily"
    assert plist["ProgramArguments"][-1].endswith("exec .venv/bin/python deploy/daily.py")
    assert plist["WorkingDirectory"] == "/opt/zlflow"
    times = {(d["Weekday"], d["Hour"], d["Minute"]) for d in plist["StartCalendarInterval"]}
    assert times == {(day, 6, 30) for day in range(1, 6)}
    assert plist["StandardErrorPath"].startswith("/opt/zlflow/results/live/logs/daily/")


def test_the_cron_line_is_valid_and_runs_the_daily_script() -> None:
    lines = [
        line
        for line in (DEPLOY / "cron" / "zlflow.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "CRON_TZ=America/Chicago"
    [entry] = lines[1:]
    minute, hour, dom, month, dow, command = entry.split(maxsplit=5)
    assert (minute, hour, dom, month, dow) == ("30", "6", "*", "*", "1-5")
    assert "cd /opt/zlflow" in command and ".venv/bin/python deploy/daily.py" in command
    assert subprocess.run(["sh", "-n", "-c", command], check=False).returncode == 0


def test_the_systemd_units_parse_and_the_calendar_is_valid() -> None:
    units = {}
    for name in ("zlflow-daily.service", "zlflow-daily.timer"):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # case-sensitive keys
        parser.read_string((DEPLOY / "systemd" / name).read_text())
        units[name] = parser
    service, timer = units["zlflow-daily.service"], units["zlflow-daily.timer"]
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == "/opt/zlflow/.venv/bin/python deploy/daily.py"
    assert service["Service"]["SuccessExitStatus"] == "75"  # the lock is held: not a failure
    assert timer["Timer"]["Unit"] == "zlflow-daily.service"
    assert timer["Timer"]["Persistent"] == "true"
    calendar = timer["Timer"]["OnCalendar"]
    analyze = shutil.which("systemd-analyze")
    if analyze:  # systemd's own parser, where the machine has it
        checked = subprocess.run([analyze, "calendar", calendar], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        assert "Normalized form: Mon..Fri *-*-* 06:30:00 America/Chicago" in checked.stdout


@pytest.fixture(scope="module")
def daily_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("daily"))
    shutil.copytree(DEPLOY, workdir / "deploy")
    return workdir


def daily(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run(
        [sys.executable, str(workdir / "deploy" / "daily.py"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_daily_run_plans_live_ingest_to_publish_for_today(daily_workdir: Path) -> None:
    """A dry-run of the morning run (no keys needed to plan): live ingest jobs for today's
    range, the warehouse, forecasts and publishing, logged under results/live."""
    result = daily(daily_workdir, "--", "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    log = (daily_workdir / "results/live/logs/daily" / f"{dt.date.today()}.log").read_text()
    assert "start: " in log and "--config source=live experiment=live -n" in log
    assert log.rstrip().endswith("exit 0")
    for rule in ("ingest_databento", "ingest_fred", "ingest_weather", "upload_forecasts"):
        assert f"rule {rule}:" in log, rule
    assert "results/live/publish/alerts.json" in log
    assert not (daily_workdir / "results/live/warehouse.duckdb").exists()


def test_a_second_daily_run_does_not_start_while_one_holds_the_lock(daily_workdir: Path) -> None:
    lock = daily_workdir / "results/live/daily.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        result = daily(daily_workdir, "--", "-n")
    assert result.returncode == 75
    assert f"another daily run holds {lock}: not starting" in result.stderr
