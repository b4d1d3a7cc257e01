"""SQL objects: one BigQuery Standard SQL file per warehouse object.

A file ``sql/<dataset>/<name>.sql`` holds one SELECT; the backend wraps it in the DDL it
needs, so the same file deploys to BigQuery and, transpiled by sqlglot
(``zlflow.warehouse.transpile``), to DuckDB.
The only templating is ``${dataset}`` for dataset names (plus ``${horizon}`` in the
per-horizon view template), all validated identifiers: config never injects SQL text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from zlflow.errors import SqlError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
TEMPLATE_VALUE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_REFERENCE = re.compile(r"\$\{(\w+)\}\.(\w+)")
_HEADER = re.compile(r"^--\s*(\w+)\s*:\s*(.+?)\s*$")
MATERIALIZATIONS = ("table", "view")


def check_identifier(value: str, what: str) -> str:
    """Reject anything that is not a plain SQL identifier (no injection through config)."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise SqlError(f"{what} {value!r} is not a valid identifier (letters, digits, _)")
    return value


@dataclass(frozen=True)
class SqlObject:
    """A parsed SQL file: which object it defines, how, and what it reads."""

    path: Path
    dataset: str
    name: str
    text: str
    materialize: str = "view"
    description: str = ""
    partition_by: str | None = None
    cluster_by: tuple[str, ...] = ()
    template_vars: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.dataset}.{self.name}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def dependencies(self) -> list[tuple[str, str]]:
        """(dataset key, object) pairs this SQL reads, in order of first use."""
        seen: dict[tuple[str, str], None] = {}
        for match in _REFERENCE.finditer(self.text):
            seen.setdefault((match.group(1), match.group(2)), None)
        return list(seen)

    def render(self, datasets: dict[str, str]) -> str:
        """BigQuery SQL with dataset placeholders replaced by real dataset names."""
        mapping = {k: check_identifier(v, f"dataset {k}") for k, v in datasets.items()}
        mapping |= self.template_vars

        def substitute(match: re.Match[str]) -> str:
            if match.group(1) not in mapping:
                raise SqlError(f"{self.path}: unknown template variable ${{{match.group(1)}}}")
            return mapping[match.group(1)]

        return _PLACEHOLDER.sub(substitute, self.text)


def read_sql_object(
    path: str | Path, name: str | None = None, template_vars: dict[str, str] | None = None
) -> SqlObject:
    """Parse a SQL file and its ``-- key: value`` header lines."""
    path = Path(path)
    if not path.is_file():
        raise SqlError(f"SQL file not found: {path}")
    text = path.read_text()
    meta: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        match = _HEADER.match(line)
        if match:
            meta[match.group(1).lower()] = match.group(2)
    materialize = meta.get("materialize", "view")
    if materialize not in MATERIALIZATIONS:
        raise SqlError(f"{path}: materialize must be one of {MATERIALIZATIONS}, not {materialize}")
    variables = dict(template_vars or {})
    for key, value in variables.items():
        if not isinstance(value, str) or not TEMPLATE_VALUE.match(value):
            raise SqlError(f"{path}: ${{{key}}} = {value!r} must be letters, digits or _")
    cluster = tuple(c.strip() for c in meta.get("cluster_by", "").split(",") if c.strip())
    return SqlObject(
        path=path,
        dataset=path.parent.name,
        name=check_identifier(name or path.stem, f"{path}: object name"),
        text=text,
        materialize=materialize,
        description=meta.get("description", ""),
        partition_by=meta.get("partition_by"),
        cluster_by=cluster,
        template_vars=variables,
    )


def read_sql_text(text: str, source: str = "<query>") -> SqlObject:
    """Wrap ad-hoc query text (tests, exports) in an SqlObject so it renders alike."""
    return SqlObject(path=Path(source), dataset="adhoc", name="query", text=text)


def discover(sql_dir: str | Path, datasets: list[str]) -> dict[str, SqlObject]:
    """Every deployable SQL object under ``sql/<dataset>/`` keyed by ``dataset.name``.

    Files that use ``${horizon}`` are per-horizon templates, expanded by the caller.
    """
    objects: dict[str, SqlObject] = {}
    for dataset in datasets:
        for path in sorted(Path(sql_dir, dataset).glob("*.sql")):
            if "${horizon}" in path.read_text():
                continue
            obj = read_sql_object(path)
            objects[obj.key] = obj
    return objects
