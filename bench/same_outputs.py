"""Do two commits produce the same outputs? The default workflow run at each, compared.

    .venv/bin/python bench/same_outputs.py BEFORE [AFTER] [--work DIR] [--cores 2]
                                           [--snakemake "--configfile FILE ..."]

A refactor claims "the same outputs"; this checks it. Each commit (AFTER defaults to
HEAD; uncommitted edits are in no commit, so commit first) is checked out into a git
worktree under ``--work`` and run with plain `snakemake` (the default config, or what
``--snakemake`` adds), its own ``src/`` first on PYTHONPATH so the installed package
plays no part. A worktree that exists already is reused (Snakemake then runs only what
is missing), so a second comparison against the same BEFORE costs one run.

Then every file under both ``results/`` is compared, logs and benchmark timings aside:

- Parquet and CSV by content: the same columns in the same order, the same rows, the same
  values (exactly: no tolerance). Columns that hash the code (``IGNORED_COLUMNS``) change
  with any edit to the modelling source, so a difference there alone is reported apart.
- JSON parsed, with keys that carry times, the commit or code hashes left out
  (``IGNORED_KEYS``).
- Everything else byte for byte, or, failing that, with JSON values of those keys blanked
  (the dashboard embeds its data as JSON); formats whose bytes embed a time or a random name
  (``UNSTABLE_SUFFIXES``: the DuckDB file, Optuna's SQLite study) are listed but not
  judged. The TFT's ``model.pt`` is judged: it is byte-stable since a232a92, so against an
  older BEFORE it differs in bytes (the archive's folder name) even with equal weights.

Exit status 1 when any judged file differs or exists on one side only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SKIPPED_DIRS = ("logs", "benchmarks")
IGNORED_COLUMNS = ("model_version", "code_version")
IGNORED_KEYS = (
    "time",
    "commit",
    "code",
    "code_version",
    "model_version",
    "created_at",
    "started_at",
    "finished_at",
    "loaded_at",
    "generated_at",
    "written_at",
    "duration_s",
    "seconds",
)
UNSTABLE_SUFFIXES = (".duckdb", ".wal", ".sqlite3", ".lock")


def worktree(rev: str, work: Path) -> Path:
    """A checkout of ``rev`` under ``work`` (created once, then reused)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    path = work / sha[:12]
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT, check=True)
    return path


def run_workflow(tree: Path, cores: int, extra: list[str]) -> None:
    env = os.environ | {"PYTHONPATH": str(tree / "src")}
    print(f"snakemake in {tree} ...", flush=True)
    done = subprocess.run(
        [SNAKEMAKE, "--cores", str(cores), *extra],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"snakemake failed in {tree}:\n{done.stderr[-4000:]}")


def files(results: Path) -> set[str]:
    return {
        p.relative_to(results).as_posix()
        for p in results.rglob("*")
        if p.is_file() and not set(p.relative_to(results).parts[:-1]) & set(SKIPPED_DIRS)
    }


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in IGNORED_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _frame(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def compare(a: Path, b: Path) -> str:
    """'same', 'same but for times and code hashes', 'unjudged' or what differs."""
    if a.suffix in UNSTABLE_SUFFIXES or ".sqlite3" in a.name:
        return "unjudged"
    if a.suffix in (".parquet", ".csv"):
        left, right = _frame(a), _frame(b)
        if list(left.columns) != list(right.columns):
            return f"columns differ: {list(left.columns)} vs {list(right.columns)}"
        if len(left) != len(right):
            return f"{len(left)} rows vs {len(right)}"
        if not left.dtypes.equals(right.dtypes):
            return f"column types differ: {dict(left.dtypes)} vs {dict(right.dtypes)}"
        differing = [c for c in left.columns if not left[c].equals(right[c])]
        if not differing:
            return "same"
        if set(differing) <= set(IGNORED_COLUMNS):
            return f"same but for times and code hashes ({', '.join(differing)})"
        return f"values differ in {differing[:5]}"
    if a.suffix == ".json":
        left, right = json.loads(a.read_text()), json.loads(b.read_text())
        if left == right:
            return "same"
        if _strip(left) == _strip(right):
            return "same but for times and code hashes"
        return "JSON differs"
    left, right = a.read_bytes(), b.read_bytes()
    if left == right:
        return "same"
    if _masked(left) == _masked(right):
        return "same but for times and code hashes"
    return "bytes differ"


def _masked(text: bytes) -> bytes:
    """JSON embedded in a text file (the dashboard's data) with ignored keys' values blanked."""
    keys = "|".join(re.escape(k) for k in IGNORED_KEYS)
    return re.sub(rb'"(' + keys.encode() + rb')": "[^"]*"', rb'"\1": ""', text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default="HEAD")
    parser.add_argument("--work", type=Path, default=Path("/tmp/zlflow-same-outputs"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--snakemake",
        default="",
        help="more Snakemake arguments, e.g. '--configfile tests/configs/small.yaml'",
    )
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    trees = [worktree(rev, args.work) for rev in (args.before, args.after)]
    for tree in trees:
        run_workflow(tree, args.cores, shlex.split(args.snakemake))
    left, right = (tree / "results" for tree in trees)
    names_left, names_right = files(left), files(right)
    verdicts: dict[str, list[str]] = {}
    for name in sorted(names_left | names_right):
        if name not in names_left or name not in names_right:
            side = args.before if name in names_left else args.after
            verdict = f"only in {side}"
        else:
            verdict = compare(left / name, right / name)
        verdicts.setdefault(verdict, []).append(name)
    bad = 0
    for verdict, names in sorted(verdicts.items()):
        judged = verdict.startswith(("same", "unjudged"))
        bad += 0 if judged else len(names)
        print(f"{verdict}: {len(names)} files")
        if not judged or verdict == "unjudged":
            for name in names[:20]:
                print(f"    {name}")
    print(f"{args.before} vs {args.after}: {'the same outputs' if not bad else f'{bad} differ'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
