"""Config errors are one line naming the key; the shipped config is valid."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from zlflow.config import check_config
from zlflow.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


@pytest.fixture
def cfg() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_shipped_config_is_valid(cfg: dict[str, Any]) -> None:
    check_config(cfg, SCHEMA)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(backend="postgres"), "config backend: 'postgres' is not one of"),
        (lambda c: c.update(typo_key=1), "config (top level): unknown key 'typo_key'"),
        (lambda c: c["datasets"].update(staging="stg; DROP"), "config datasets.staging:"),
        (lambda c: c["horizons"].update({"1m": 0}), "config horizons.1m: 0 is less than"),
        (lambda c: c["horizons"].update({"One Month": 21}), "config horizons:"),
        (lambda c: c["split"].update(test_start="2022/01/01"), "config split.test_start:"),
        (
            lambda c: c["rolls"]["ZL"].update(contract_months=[13]),
            "config rolls.ZL.contract_months.0",
        ),
        (lambda c: c["release_lags"].pop("CPIAUCSL"), "'CPIAUCSL' is a required property"),
        (lambda c: c["split"].update(validation_start="2023-01-01"), "must be before test_start"),
    ],
)
def test_bad_config_is_a_one_line_error_naming_the_key(
    cfg: dict[str, Any], change: Any, message: str
) -> None:
    bad = copy.deepcopy(cfg)
    change(bad)
    with pytest.raises(ConfigError) as err:
        check_config(bad, SCHEMA)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_nested_command_line_values_arrive_as_text_and_are_read_as_numbers(
    cfg: dict[str, Any],
) -> None:
    # What Snakemake's parser makes of --config horizons='{1w: 5}' and friends.
    from snakemake.cli import parse_config

    overlay = parse_config(
        [
            "horizons={1w: 5}",
            "walk_forward={max_folds: 2}",
            "calibration={intervals: {gamma: 0.01, normalise: false, window: null}}",
        ]
    )
    assert overlay["horizons"] == {"1w": "5"}  # text, as the issue saw
    merged = copy.deepcopy(cfg)
    for key, value in overlay.items():
        merged[key] = merged[key] | value if isinstance(merged.get(key), dict) else value
    merged["calibration"]["intervals"] = (
        merged["calibration"]["intervals"] | (overlay["calibration"]["intervals"])
    )
    check_config(merged, SCHEMA)
    assert merged["horizons"]["1w"] == 5 and merged["walk_forward"]["max_folds"] == 2
    intervals = merged["calibration"]["intervals"]
    assert intervals == {"normalise": False, "gamma": 0.01, "window": None}
    # A value that is not a number stays text and the error says what to do.
    bad = copy.deepcopy(cfg) | {"seed": "seven"}
    with pytest.raises(ConfigError, match="seed: 'seven' is not of type 'integer'") as err:
        check_config(bad, SCHEMA)
    assert "--configfile" in str(err.value) and "\n" not in str(err.value)
    negative = copy.deepcopy(cfg)
    negative["walk_forward"]["max_folds"] = "-1"
    with pytest.raises(ConfigError, match="max_folds: -1 is less than the minimum of 1"):
        check_config(negative, SCHEMA)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "backend=postgres"], "config backend: 'postgres' is not one of"),
        (["--config", "walk_forward={max_folds: many}"], "--configfile"),
    ],
)
def test_snakemake_says_a_config_error_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """The real command line: the error is one line of its own, without Snakemake's
    'WorkflowError in file ..., line N' and traceback lines around it."""
    from workflow_tools import SNAKEMAKE, copy_workflow

    workdir = copy_workflow(tmp_path / "workflow")
    result = subprocess.run(
        [SNAKEMAKE, "-n", *args], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    ours = [line for line in result.stderr.splitlines() if line.startswith("zlflow: ")]
    assert len(ours) == 1 and message in ours[0], result.stderr
    assert "WorkflowError" not in result.stderr and "File " not in result.stderr
