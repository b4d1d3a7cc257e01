"""Execution profiles: the SLURM scale-out profile parses, names real rules, and dry-runs.

A dry-run with ``--executor slurm`` fails at argument parsing unless the executor plugin
is installed, so a passing dry-run also proves the plugin in the dev extra is there. Runs
on a private copy of the workflow: nothing is submitted and nothing is built.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
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
