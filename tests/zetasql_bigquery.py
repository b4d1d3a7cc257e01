"""ZetaSQL, the SQL front end BigQuery implements, set up to judge SQL as BigQuery would.

The ``zetasql`` package runs Google's C++ parser and analyzer compiled to WebAssembly.
Given a catalog of one project's datasets, it answers what BigQuery's front end answers
before a query runs: syntax, names, types, functions, DDL and DML shape. It knows nothing
of data, quotas, permissions or BigQuery's storage, which only a real project checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
from zetasql.api.type_factory import TypeFactory
from zetasql.core.exceptions import ServerError
from zetasql.core.local_service import ZetaSqlLocalService
from zetasql.types import (
    AnalyzerOptions,
    ErrorMessageMode,
    LanguageOptions,
    ParseResumeLocation,
    ProductMode,
    ResolvedQueryStmt,
    ResolvedStatement,
    SimpleCatalog,
    SimpleColumn,
    SimpleTable,
    Type,
    TypeKind,
    ZetaSQLBuiltinFunctionOptions,
)

# Where the analyzer cannot model something BigQuery accepts, and how the catalog
# works around it. Each entry names the workaround; the reason is what a reader needs.
LIMITATIONS: Mapping[str, str] = {
    "dotted_table_path": (
        "BigQuery splits a backtick-quoted `project.dataset.table` into its three parts; "
        "ZetaSQL's SimpleCatalog looks the quoted name up whole. The backend writes DDL "
        "and MERGE targets that way, so each table is also registered under its full name."
    ),
}

_SIMPLE_NAMES: Mapping[TypeKind, str] = {
    TypeKind.TYPE_BOOL: "BOOL",
    TypeKind.TYPE_INT64: "INT64",
    TypeKind.TYPE_DOUBLE: "FLOAT64",
    TypeKind.TYPE_STRING: "STRING",
    TypeKind.TYPE_BYTES: "BYTES",
    TypeKind.TYPE_DATE: "DATE",
    TypeKind.TYPE_DATETIME: "DATETIME",
    TypeKind.TYPE_TIME: "TIME",
    TypeKind.TYPE_TIMESTAMP: "TIMESTAMP",
    TypeKind.TYPE_NUMERIC: "NUMERIC",
    TypeKind.TYPE_BIGNUMERIC: "BIGNUMERIC",
    TypeKind.TYPE_JSON: "JSON",
    TypeKind.TYPE_INTERVAL: "INTERVAL",
    TypeKind.TYPE_GEOGRAPHY: "GEOGRAPHY",
}


def type_name(type_: Type) -> str:
    """A ZetaSQL type as BigQuery spells it (``DOUBLE`` is ``FLOAT64``)."""
    kind = TypeKind(type_.type_kind)
    if kind == TypeKind.TYPE_ARRAY:
        return f"ARRAY<{type_name(type_.array_type.element_type)}>"
    if kind == TypeKind.TYPE_STRUCT:
        fields = ", ".join(
            f"{f.field_name} {type_name(f.field_type)}" for f in type_.struct_type.field
        )
        return f"STRUCT<{fields}>"
    return _SIMPLE_NAMES.get(kind, kind.name.removeprefix("TYPE_"))


def bigquery_type(arrow: pa.DataType) -> Type:
    """The column type a BigQuery Parquet load gives an Arrow type.

    As the backend loads (list inference on): integers are INT64, floats FLOAT64, a
    timestamp with a time zone is TIMESTAMP and a naive one (isAdjustedToUTC=false in
    the file) DATETIME, decimals NUMERIC or BIGNUMERIC by precision and scale.
    """
    simple = TypeFactory.create_simple_type
    if pa.types.is_dictionary(arrow):
        return bigquery_type(arrow.value_type)
    if pa.types.is_boolean(arrow):
        return simple(TypeKind.TYPE_BOOL)
    if pa.types.is_integer(arrow) and arrow != pa.uint64():
        return simple(TypeKind.TYPE_INT64)
    if pa.types.is_floating(arrow):
        return simple(TypeKind.TYPE_DOUBLE)
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return simple(TypeKind.TYPE_STRING)
    if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow):
        return simple(TypeKind.TYPE_BYTES)
    if pa.types.is_date(arrow):
        return simple(TypeKind.TYPE_DATE)
    if pa.types.is_timestamp(arrow):
        return simple(TypeKind.TYPE_TIMESTAMP if arrow.tz else TypeKind.TYPE_DATETIME)
    if pa.types.is_time(arrow):
        return simple(TypeKind.TYPE_TIME)
    if pa.types.is_decimal(arrow):
        fits = arrow.scale <= 9 and arrow.precision - arrow.scale <= 29
        return simple(TypeKind.TYPE_NUMERIC if fits else TypeKind.TYPE_BIGNUMERIC)
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return TypeFactory.create_array_type(bigquery_type(arrow.value_type))
    if pa.types.is_struct(arrow):
        return TypeFactory.create_struct_type([(f.name, bigquery_type(f.type)) for f in arrow])
    raise TypeError(f"no BigQuery column type for Arrow {arrow}")


class AnalysisError(Exception):
    """ZetaSQL rejected a statement: its message, which BigQuery's would resemble."""


def start_service() -> ZetaSqlLocalService:
    """The WebAssembly analyzer (about 30 s to compile and start: once per process)."""
    return ZetaSqlLocalService.get_instance()


def bigquery_language() -> LanguageOptions:
    """Released GoogleSQL features in the external product mode BigQuery uses: without
    INT32, UINT64 and the other types BigQuery does not offer."""
    options = LanguageOptions.maximum_features()
    options.product_mode = ProductMode.PRODUCT_EXTERNAL
    return options


@dataclass
class BigQueryFrontEnd:
    """One project's datasets as a ZetaSQL catalog, and the analyzer that reads it."""

    service: ZetaSqlLocalService
    project: str
    datasets: Mapping[str, str]
    _root: SimpleCatalog = field(init=False)
    _language: LanguageOptions = field(init=False)
    # The catalog lives in the service between calls: sent with every call, it would cost
    # ~0.2 s each (serialising it, building the built-in functions), registered ~5 ms.
    _registered: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._language = bigquery_language()
        names = dict.fromkeys(self.datasets.values())
        self._root = SimpleCatalog(
            name="bigquery",
            catalog=[
                SimpleCatalog(
                    name=self.project,
                    # A candidate mapping names a dataset twice (forecasts, published_forecasts).
                    catalog=[SimpleCatalog(name=n, table=[]) for n in names],
                )
            ],
            table=[],
            builtin_function_options=ZetaSQLBuiltinFunctionOptions(language_options=self._language),
        )

    def _dataset(self, dataset_key: str) -> SimpleCatalog:
        name = self.datasets[dataset_key]
        return next(c for c in self._root.catalog[0].catalog if c.name == name)

    def add_table(self, dataset_key: str, name: str, columns: Iterable[tuple[str, Type]]) -> None:
        """Register (or replace) a table: under project.dataset, and under its full name
        (``dotted_table_path``)."""
        columns = list(columns)

        def table(table_name: str) -> SimpleTable:
            return SimpleTable(
                name=table_name,
                column=[SimpleColumn(name=c, type=t, is_writable_column=True) for c, t in columns],
            )

        full = f"{self.project}.{self.datasets[dataset_key]}.{name}"
        dataset = self._dataset(dataset_key)
        dataset.table = [t for t in dataset.table if t.name != name] + [table(name)]
        self._root.table = [t for t in self._root.table if t.name != full] + [table(full)]
        if self._registered is not None:
            self.service.unregister_catalog(registered_id=self._registered)
            self._registered = None

    def _options(self) -> AnalyzerOptions:
        if self._registered is None:
            self._registered = self.service.register_catalog(
                simple_catalog=self._root
            ).registered_id
        return AnalyzerOptions(
            language_options=self._language,
            error_message_mode=ErrorMessageMode.ERROR_MESSAGE_ONE_LINE,
        )

    def analyze(self, sql: str) -> ResolvedStatement:
        """The resolved statement, or AnalysisError with ZetaSQL's one-line message."""
        options = self._options()
        try:
            response = self.service.analyze(
                sql_statement=sql, options=options, registered_catalog_id=self._registered
            )
        except ServerError as err:
            raise AnalysisError(str(err)) from err
        return response.resolved_statement

    def analyze_script(self, sql: str) -> list[ResolvedStatement]:
        """Each statement of a multi-statement script (a transaction), in order.

        The script is parsed whole first (its structure: BEGIN ... COMMIT), then each
        statement is analysed where the previous one ended, against the same catalog.
        """
        options = self._options()
        try:
            self.service.parse(sql_statement=sql, allow_script=True, options=self._language)
        except ServerError as err:
            raise AnalysisError(f"script: {err}") from err
        statements: list[ResolvedStatement] = []
        position, end = 0, len(sql.rstrip())
        while position < end:
            where = ParseResumeLocation(input=sql, byte_position=position, allow_resume=True)
            try:
                response = self.service.analyze(
                    parse_resume_location=where,
                    options=options,
                    registered_catalog_id=self._registered,
                )
            except ServerError as err:
                raise AnalysisError(f"statement {len(statements) + 1}: {err}") from err
            statements.append(response.resolved_statement)
            position = response.resume_byte_position or end
        return statements


def query_columns(statement: ResolvedStatement) -> list[tuple[str, Type]]:
    """The output columns of an analysed query, as a view or CREATE TABLE AS has them."""
    if not isinstance(statement, ResolvedQueryStmt):
        raise AnalysisError(f"not a query: {type(statement).__name__}")
    return [(c.name, c.column.type) for c in statement.output_column_list]
