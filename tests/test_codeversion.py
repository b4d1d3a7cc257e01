"""Code versions: a model's hash follows its own and the shared modelling source only."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest

from zlflow.codeversion import (
    MODEL_SOURCES,
    PACKAGE,
    calibration_version,
    code_version,
    scoring_version,
    source_files,
)
from zlflow.models import MODEL_NAMES, get_model


@pytest.fixture
def package(tmp_path: Path) -> Path:
    target = tmp_path / "zlflow"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_every_registered_model_has_source_files() -> None:
    assert set(MODEL_SOURCES) == set(MODEL_NAMES)
    for model in MODEL_NAMES:
        files = source_files(model)
        assert files and all(path.is_file() for path in files)
        assert Path(inspect.getfile(get_model(model))).resolve() in files


def test_editing_the_tft_changes_only_its_version(package: Path) -> None:
    before = {m: code_version(m, package) for m in MODEL_NAMES}
    assert before == {m: code_version(m) for m in MODEL_NAMES}
    layers = package / "models" / "tft" / "layers.py"
    layers.write_text(layers.read_text() + "\n# edited\n")
    after = {m: code_version(m, package) for m in MODEL_NAMES}
    assert after["tft"] != before["tft"] and after["lgbm"] == before["lgbm"]


def test_editing_shared_code_changes_every_version(package: Path) -> None:
    before = {m: code_version(m, package) for m in MODEL_NAMES}
    folds = package / "folds.py"
    folds.write_text(folds.read_text() + "\n# edited\n")
    assert all(code_version(m, package) != before[m] for m in MODEL_NAMES)


@pytest.mark.parametrize(
    ("module", "changes"),
    [("forecast.py", "calibration"), ("calibrate.py", "calibration"), ("scorecard.py", "scoring")],
)
def test_calibration_and_scoring_code_rerun_their_stage_not_the_fits(
    package: Path, module: str, changes: str
) -> None:
    def versions() -> dict[str, str]:
        return {m: code_version(m, package) for m in MODEL_NAMES} | {
            "calibration": calibration_version(package),
            "scoring": scoring_version(package),
        }

    before = versions()
    path = package / module
    path.write_text(path.read_text() + "\n# edited\n")
    after = versions()
    assert {k for k in before if after[k] != before[k]} == {changes}


def test_unknown_model_is_named() -> None:
    with pytest.raises(KeyError, match="'prophet'"):
        code_version("prophet")
