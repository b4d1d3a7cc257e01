"""Compare experiments side by side: overall backtest metrics and the config keys that differ.

    python -m zlflow.compare results/default results/tft [--horizon 1m]

Each experiment folder is what one run wrote under ``results/<experiment>/``; the
metrics come from ``metrics/<h>/metrics.csv`` and the config from ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = (
    "n",
    "mae",
    "pinball_mean",
    "coverage_80",
    "coverage_95",
    "brier",
    "directional_accuracy",
)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def config_differences(folders: Sequence[Path]) -> pd.DataFrame:
    """One row per config key whose value differs between the experiments' manifests."""
    configs = []
    for folder in folders:
        manifest = folder / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} is missing: run the experiment first")
        configs.append(_flatten(json.loads(manifest.read_text())["config"]))
    keys = sorted(set().union(*configs))
    rows = [
        [key, *(json.dumps(c.get(key), default=str) for c in configs)]
        for key in keys
        if len({json.dumps(c.get(key), default=str) for c in configs}) > 1
    ]
    return pd.DataFrame(rows, columns=["key", *(f.name for f in folders)])


def metrics_side_by_side(folders: Sequence[Path], horizon: str) -> pd.DataFrame:
    """Overall metrics of every model (and baseline) in every experiment, one row each."""
    frames = []
    for folder in folders:
        path = folder / "metrics" / horizon / "metrics.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run the experiment's forecast target")
        frame = pd.read_csv(path)
        frames.append(frame.assign(experiment=folder.name)[["experiment", "model", *COLUMNS]])
    return pd.concat(frames, ignore_index=True).sort_values(
        ["pinball_mean", "experiment"], ignore_index=True
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zlflow.compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("folders", nargs="+", type=Path, help="results/<experiment> folders")
    parser.add_argument("--horizon", default="1m", help="horizon name (default 1m)")
    args = parser.parse_args(argv)
    try:
        metrics = metrics_side_by_side(args.folders, args.horizon)
        differences = config_differences(args.folders)
    except FileNotFoundError as err:
        parser.error(str(err))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(f"Backtest metrics, {args.horizon}, best mean pinball loss first:")
        print(metrics.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print("\nConfig keys that differ:")
        print(differences.to_string(index=False) if len(differences) else "(none)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
