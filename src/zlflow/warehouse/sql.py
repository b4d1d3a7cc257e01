"""SQL objects: one BigQuery Standard SQL file per warehouse object.

A file ``sql/<dataset>/<name>.sql`` holds one SELECT; the backend wraps it in the DDL it
needs, so the same file deploys to BigQuery and, transpiled by sqlglot, to DuckDB.
The only templating is ``${dataset}`` for dataset names (plus ``${horizon}`` in the
per-horizon view template), all validated identifiers: config never injects SQL text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp

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


def parse_bigquery(sql: str, source: str | Path = "<sql>") -> exp.Expression:
    """Parse exactly one BigQuery query; DDL and scripts are the backend's business."""
    try:
        statements = sqlglot.parse(sql, read="bigquery")
    except sqlglot.errors.ParseError as err:
        raise SqlError(f"{source}: cannot parse as BigQuery SQL: {err}") from err
    statements = [s for s in statements if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SqlError(f"{source}: must hold exactly one SELECT query (the backend adds the DDL)")
    return statements[0]


# --- BigQuery -> DuckDB: fixes for the places where sqlglot's output means something else ---


def _fix_dayofweek(node: exp.Expression) -> exp.Expression:
    # BigQuery numbers Sunday as 1, DuckDB as 0.
    if isinstance(node, exp.Extract) and node.name.upper() == "DAYOFWEEK":
        return exp.Paren(this=exp.Add(this=node.copy(), expression=exp.Literal.number(1)))
    return node


def _fix_date_arithmetic(node: exp.Expression) -> exp.Expression:
    # BigQuery DATE_ADD/DATE_SUB/DATE_TRUNC take and return DATE; DuckDB returns TIMESTAMP.
    if isinstance(node, exp.DateAdd | exp.DateSub | exp.DateTrunc) and not node.meta.get("zl_cast"):
        node.meta["zl_cast"] = True
        return exp.cast(node, exp.DataType.build("DATE"))
    return node


def _fix_numeric(node: exp.Expression) -> exp.Expression:
    # BigQuery NUMERIC is DECIMAL(38, 9); sqlglot would emit DuckDB's DECIMAL(18, 3).
    if (
        isinstance(node, exp.DataType)
        and node.this in (exp.DataType.Type.DECIMAL,)
        and not node.expressions
    ):
        return exp.DataType.build("DECIMAL(38, 9)")
    return node


def _fix_division(node: exp.Expression) -> exp.Expression:
    # BigQuery raises on x / 0; DuckDB returns NULL or inf. Keep BigQuery's error.
    if isinstance(node, exp.Div) and not node.meta.get("zl_checked"):
        denominator = node.expression
        if (
            isinstance(denominator, exp.Literal)
            and denominator.is_number
            and float(denominator.name) != 0
        ):
            return node
        node.meta["zl_checked"] = True
        guarded = exp.Case(
            ifs=[
                exp.If(
                    this=exp.EQ(this=denominator.copy(), expression=exp.Literal.number(0)),
                    true=exp.Anonymous(
                        this="error", expressions=[exp.Literal.string("division by zero")]
                    ),
                )
            ],
            default=denominator.copy(),
        )
        node.set("expression", exp.Paren(this=guarded))
    return node


def _fix_format(node: exp.Expression) -> exp.Expression:
    # BigQuery FORMAT is printf-style; DuckDB's FORMAT is fmt-style ({}), so sqlglot's
    # pass-through would return the pattern unformatted. DuckDB's PRINTF matches.
    if isinstance(node, exp.Format):
        pattern = node.this
        if isinstance(pattern, exp.Literal) and re.search(r"%[tT]", pattern.name):
            raise SqlError("FORMAT with %t/%T does not transpile: cast to STRING instead")
        return exp.Anonymous(this="printf", expressions=[node.this, *node.expressions])
    return node


def _guard(argument: exp.Expression, bad: exp.Expression, message: str) -> exp.Expression:
    return exp.Case(
        ifs=[
            exp.If(
                this=bad,
                true=exp.Anonymous(this="error", expressions=[exp.Literal.string(message)]),
            )
        ],
        default=argument,
    )


def _fix_domain_errors(node: exp.Expression) -> exp.Expression:
    # BigQuery raises on SQRT of a negative and on LN/LOG of a non-positive number;
    # DuckDB returns NaN or -inf. Keep BigQuery's error.
    if node.meta.get("zl_checked"):
        return node
    if isinstance(node, exp.Sqrt):
        arg = node.this
        node.meta["zl_checked"] = True
        bad = exp.LT(this=arg.copy(), expression=exp.Literal.number(0))
        node.set("this", _guard(arg.copy(), bad, "square root of a negative value"))
    elif isinstance(node, exp.Ln | exp.Log):
        arg = node.expression if isinstance(node, exp.Log) and node.expression else node.this
        node.meta["zl_checked"] = True
        bad = exp.LTE(this=arg.copy(), expression=exp.Literal.number(0))
        guarded = _guard(arg.copy(), bad, "logarithm of a non-positive value")
        node.set("expression" if arg is node.args.get("expression") else "this", guarded)
    return node


def _reject_safe_prefix(node: exp.Expression) -> exp.Expression:
    # DuckDB has no SAFE. prefix; sqlglot would pass it through and DuckDB would fail late.
    if isinstance(node, exp.SafeFunc):
        raise SqlError("SAFE.<function> does not transpile: use SAFE_DIVIDE, SAFE_CAST or CASE")
    return node


_FIXES = (
    _fix_domain_errors,
    _reject_safe_prefix,
    _fix_format,
    _fix_dayofweek,
    _fix_date_arithmetic,
    _fix_numeric,
    _fix_division,
)


def to_duckdb(sql: str, source: str | Path = "<sql>") -> str:
    """Transpile one BigQuery query to DuckDB with BigQuery's semantics kept."""
    tree = parse_bigquery(sql, source)
    try:
        for fix in _FIXES:
            tree = tree.transform(fix)
        return tree.sql(dialect="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except SqlError as err:
        raise SqlError(f"{source}: {err}") from err
    except sqlglot.errors.UnsupportedError as err:
        raise SqlError(f"{source}: not portable to DuckDB: {err}") from err


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
