"""The environments stay in step with pyproject.toml: the conda environment of `--sdm conda`,
the lock file `make install` installs from, the torch pin the Makefile installs first, and the
tool versions the pre-commit hooks run."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

# conda-forge name -> PyPI name, where they differ: conda-forge's PyTorch package is called
# `pytorch` (its `torch` is unrelated), and `arch` was taken there, so the package is `arch-py`.
CONDA_TO_PYPI = {"pytorch": "torch", "arch-py": "arch"}
# Entries of the conda environment that are not Python dependencies of the project.
CONDA_TOOLING = {"python", "pip"}
# The googlebatch extra stays out of the lock: google-cloud-batch<0.18 pins protobuf<7.
NOT_LOCKED = {"snakemake-executor-plugin-googlebatch", "google-cloud-batch"}

# A conda match spec as envs/zlflow.yaml writes them: a name, then optionally comma-separated
# constraints. Channels (`conda-forge::x`) and build strings are refused: the test could not
# compare them with pyproject.
CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*(?P<spec>(?:[<>=!~].*)?)$")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements(strings: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(s) for s in strings]
    return {canonicalize_name(r.name): r for r in reqs}


def runtime_requirements() -> dict[str, Requirement]:
    return requirements(pyproject()["project"]["dependencies"])


def dev_requirements() -> dict[str, Requirement]:
    return requirements(pyproject()["project"]["optional-dependencies"]["dev"])


def conda_to_pep440(spec: str) -> SpecifierSet:
    """A conda version constraint as PEP 440: conda's `=1.2` means `1.2.*`, the rest agrees."""
    parts = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if re.fullmatch(r"=[^=].*", part):
            parts.append(f"=={part[1:]}.*")
        else:
            parts.append(part)
    return SpecifierSet(",".join(parts))


def conda_environment() -> tuple[dict[str, SpecifierSet], dict[str, Requirement], list[str]]:
    """(conda packages by PyPI name, pip requirements by name, pip lines that are options)."""
    env = yaml.safe_load((ROOT / "envs" / "zlflow.yaml").read_text())
    conda: dict[str, SpecifierSet] = {}
    pip_reqs: dict[str, Requirement] = {}
    pip_options: list[str] = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                if line.startswith("-"):
                    pip_options.append(line)
                    continue
                req = Requirement(line)
                name = canonicalize_name(req.name)
                assert name not in pip_reqs, f"{name} listed twice under pip:"
                pip_reqs[name] = req
            continue
        match = CONDA_SPEC.match(entry)
        assert match, f"envs/zlflow.yaml: cannot read the conda spec {entry!r}"
        conda_name = match["name"].lower()
        name = canonicalize_name(CONDA_TO_PYPI.get(conda_name, conda_name))
        assert name not in conda, f"{name} listed twice in the conda dependencies"
        conda[name] = conda_to_pep440(match["spec"])
    return conda, pip_reqs, pip_options


def lock_pins() -> dict[str, Version]:
    """requirements.lock as {name: pinned version}; every line must be an exact pin."""
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==" and "*" not in spec.version, f"not an exact pin: {line}"
        pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def test_conda_environment_has_every_runtime_dependency_with_the_same_specifier():
    conda, pip_reqs, _ = conda_environment()
    both = set(conda) & set(pip_reqs)
    assert not both, f"in both the conda and the pip section of envs/zlflow.yaml: {both}"
    declared = {name: spec for name, spec in conda.items() if name not in CONDA_TOOLING}
    declared |= {name: req.specifier for name, req in pip_reqs.items()}
    runtime = runtime_requirements()

    missing = sorted(set(runtime) - set(declared))
    extra = sorted(set(declared) - set(runtime))
    assert not missing, f"pyproject dependencies missing from envs/zlflow.yaml: {missing}"
    assert not extra, f"envs/zlflow.yaml has packages pyproject does not declare: {extra}"
    drifted = {
        name: (str(req.specifier), str(declared[name]))
        for name, req in runtime.items()
        if declared[name] != req.specifier
    }
    assert not drifted, f"specifiers differ (pyproject, envs/zlflow.yaml): {drifted}"


def test_conda_environment_python_and_project_install():
    conda, _, pip_options = conda_environment()
    requires_python = SpecifierSet(pyproject()["project"]["requires-python"])
    # The conda spec `python=3.11` admits every 3.11.x; its first release must satisfy pyproject.
    (python_spec,) = conda["python"]
    python = python_spec.version.removesuffix(".*")
    assert requires_python.contains(python), f"python={python}, pyproject: {requires_python}"
    assert "pip" in conda, "the pip: section needs pip in the environment"
    # The project itself comes from the checkout, one level above envs/.
    assert pip_options == ["-e .."], pip_options


def test_conda_spec_translation():
    """The translation the comparison relies on, on conda's own forms."""
    assert conda_to_pep440("=2.13") == SpecifierSet("==2.13.*")
    assert conda_to_pep440("==2.13.0") == SpecifierSet("==2.13.0")
    assert conda_to_pep440(">=30.30,<31") == SpecifierSet(">=30.30,<31")
    assert conda_to_pep440("") == SpecifierSet()
    assert not conda_to_pep440("=2.13").contains("2.14.0")


def test_lock_pins_every_dependency_within_its_specifier():
    pins = lock_pins()
    wanted = runtime_requirements() | dev_requirements()
    missing = sorted(set(wanted) - set(pins))
    assert not missing, f"requirements.lock lacks {missing}: run `make lock` (CONTRIBUTING.md)"
    outside = {
        name: (str(req.specifier), str(pins[name]))
        for name, req in wanted.items()
        if not req.specifier.contains(pins[name], prereleases=True)
    }
    assert not outside, f"lock pins outside pyproject's specifiers: {outside}; run `make lock`"


def test_lock_holds_the_cpu_torch_and_not_the_googlebatch_extra():
    pins = lock_pins()
    # The CPU build: the CUDA build would bring nvidia-* packages and triton with it.
    assert pins["torch"].local == "cpu", f"torch {pins['torch']} is not the CPU build"
    cuda = [name for name in pins if name.startswith("nvidia-") or name == "triton"]
    assert not cuda, f"CUDA packages in the lock: {cuda}"
    assert not NOT_LOCKED & set(pins), f"the googlebatch extra is locked: {NOT_LOCKED & set(pins)}"


def test_makefile_installs_the_pinned_torch_first_then_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    torch_pin = re.search(r"pip install --quiet (torch==\S+)", makefile)
    assert torch_pin, "the Makefile no longer installs torch on its own"
    first = Requirement(torch_pin[1]).specifier
    assert first == runtime_requirements()["torch"].specifier, f"Makefile: {first}, pyproject"
    assert lock_pins()["torch"] in first, f"the lock's torch is not {first}"
    steps = [torch_pin[0], "pip install --quiet -r requirements.lock", "--no-deps -e ."]
    assert all(step in makefile for step in steps), "the Makefile does not install from the lock"
    at = [makefile.index(step) for step in steps]
    assert at == sorted(at), f"the install steps are out of order: {steps}"


def pre_commit_revs() -> dict[str, str]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return {
        hook["id"]: repo["rev"]
        for repo in config["repos"]
        for hook in repo["hooks"]
        if repo["repo"].startswith("https://")
    }


@pytest.mark.parametrize(("hook", "package"), [("ruff-check", "ruff"), ("snakefmt", "snakefmt")])
def test_pre_commit_hooks_run_the_locked_and_installed_versions(hook, package):
    rev = Version(pre_commit_revs()[hook].removeprefix("v"))
    assert rev == lock_pins()[package], f"{hook} rev {rev}, lock {lock_pins()[package]}"
    assert rev == Version(version(package)), f"{hook} rev {rev}, .venv {version(package)}"
