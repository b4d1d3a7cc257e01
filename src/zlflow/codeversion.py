"""Which source files a model's results depend on, hashed into a short code version.

Snakemake's own code trigger sees only a rule's script, and every model shares the same
scripts; this hash is a params value of the model rules instead, so editing the TFT's
modules reruns TFT jobs only, while editing the shared walk-forward code reruns every
model. It is read from the files, not from imports, so parsing the Snakefile stays cheap.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

PACKAGE: Final = Path(__file__).resolve().parent

# Relative to the package; a folder stands for every .py file in it.
SHARED_SOURCES: Final = (
    "models/base.py",
    "backtest.py",
    "tuning.py",
    "folds.py",
    "explain.py",
)
# What calibrated forecasts depend on beyond the model's predictions: a params value of
# the calibration, baseline, ensemble and live-forecast rules.
CALIBRATION_SOURCES: Final = (
    "calibrate.py",
    "volatility.py",
    "baselines.py",
    "ensemble.py",
    "forecast.py",
)
# What the scores, verdicts and summary depend on: a params value of the metrics rule.
SCORING_SOURCES: Final = ("metrics.py", "verdicts.py", "significance.py", "scorecard.py")
MODEL_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "lgbm": ("models/lgbm.py",),
    "tft": ("models/tft",),
}


def source_files(model: str, package: Path = PACKAGE) -> list[Path]:
    """The files behind ``model``'s results, in a stable order."""
    if model not in MODEL_SOURCES:
        raise KeyError(f"no source files registered for model {model!r}: add it to MODEL_SOURCES")
    files: list[Path] = []
    for name in (*MODEL_SOURCES[model], *SHARED_SOURCES):
        path = package / name
        files.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    return files


def code_version(model: str, package: Path = PACKAGE) -> str:
    """Short hash of the contents (and package-relative names) of ``model``'s source files."""
    return _digest(source_files(model, package), package)


def calibration_version(package: Path = PACKAGE) -> str:
    """Short hash of the calibration, baseline and ensemble source."""
    return _digest([package / name for name in CALIBRATION_SOURCES], package)


def scoring_version(package: Path = PACKAGE) -> str:
    """Short hash of the scoring, verdict and significance source."""
    return _digest([package / name for name in SCORING_SOURCES], package)


def _digest(files: list[Path], package: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]
