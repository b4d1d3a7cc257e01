"""Experiment comparison on two result folders written the way a run writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from zlflow.compare import config_differences, main, metrics_side_by_side


def experiment(root: Path, name: str, config: dict, pinball: dict[str, float]) -> Path:
    folder = root / name
    (folder / "metrics" / "1m").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"config": config}))
    rows = [
        {
            "model": m,
            "n": 100,
            "mae": 0.05,
            "pinball_mean": v,
            "coverage_80": 0.8,
            "coverage_95": 0.95,
            "brier": 0.25,
            "directional_accuracy": 0.5,
        }
        for m, v in pinball.items()
    ]
    pd.DataFrame(rows).to_csv(folder / "metrics" / "1m" / "metrics.csv", index=False)
    return folder


def test_metrics_and_config_differences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = experiment(
        tmp_path,
        "default",
        {"models": ["lgbm"], "seed": 42, "tuning": {"n_trials": 20}},
        {"lgbm": 0.0118, "random_walk": 0.0120},
    )
    b = experiment(
        tmp_path,
        "tft",
        {"models": ["lgbm", "tft"], "seed": 42, "tuning": {"n_trials": 4}},
        {"lgbm": 0.0118, "tft": 0.0115, "random_walk": 0.0120},
    )
    metrics = metrics_side_by_side([a, b], "1m")
    assert metrics.iloc[0][["experiment", "model"]].tolist() == ["tft", "tft"]
    assert len(metrics) == 5
    diff = config_differences([a, b])
    assert diff["key"].tolist() == ["models", "tuning.n_trials"]
    assert diff.columns.tolist() == ["key", "default", "tft"]
    assert main([str(a), str(b)]) == 0
    assert "tuning.n_trials" in capsys.readouterr().out


def test_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nothing")])
    with pytest.raises(FileNotFoundError, match=r"manifest\.json is missing"):
        config_differences([tmp_path])
