"""BigQuery Standard SQL to DuckDB, with BigQuery's semantics kept where they differ.

Apart from ``zlflow.warehouse.sql`` so that reading SQL files (the Snakefile does, on every
``snakemake`` call) does not import sqlglot; only a DuckDB job that deploys or queries does.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlglot
from sqlglot import exp

from zlflow.errors import SqlError


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
