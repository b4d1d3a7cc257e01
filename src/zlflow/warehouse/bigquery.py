"""The production backend: Google BigQuery through the official client.

The SQL files are BigQuery SQL already, so nothing is transpiled: the backend adds only
the DDL, qualifies ``${dataset}`` with the project (jobs may then run anywhere), and turns
service errors into one ``SqlError`` that names the SQL file and the line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import logging
import numbers
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from google.api_core.exceptions import GoogleAPICallError, NotFound
from google.auth.exceptions import GoogleAuthError
from google.cloud import bigquery
from google.cloud.bigquery.table import RowIterator

from zlflow.errors import ConfigError, SqlError, ZlflowError
from zlflow.warehouse.base import MergeResult, TableInfo, Warehouse, columns_to_add
from zlflow.warehouse.sql import SqlObject, check_identifier, read_sql_text
from zlflow.warehouse.wap import VERSIONS, published_datasets

log = logging.getLogger("zlflow")
# Project ids, including the legacy domain-scoped form ``example.com:project``.
PROJECT_ID = re.compile(r"^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,61}[a-z0-9]$")
_POSITION = re.compile(r"\s*at \[(\d+):(\d+)\]")
_LABEL_CHARS = re.compile(r"[^a-z0-9_-]")
# The REST API reports legacy type names; markers and schema checks use standard SQL ones.
_STANDARD_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
# Staging tables of an interrupted merge expire on their own.
_STAGING_TTL = dt.timedelta(hours=6)


class MissingObjectError(SqlError):
    """A query reads a table or view that does not exist (yet): it cannot be dry-run."""


def _label(value: str, what: str) -> str:
    # BigQuery labels: lowercase letters, digits, _ and -, at most 63 characters.
    cleaned = _LABEL_CHARS.sub("_", str(value).lower())[:63]
    if what == "key" and not re.match(r"^[a-z]", cleaned):
        raise ConfigError(f"BigQuery label key {value!r} must start with a letter")
    return cleaned


def _field_type(field: bigquery.SchemaField) -> str:
    base = _STANDARD_TYPES.get(field.field_type, field.field_type)
    if base == "STRUCT":
        base = f"STRUCT<{', '.join(f'{f.name} {_field_type(f)}' for f in field.fields)}>"
    return f"ARRAY<{base}>" if field.mode == "REPEATED" else base


def _scalar_type(name: str, value: Any) -> str:
    # bool before int (bool is an int); datetime before date (datetime is a date).
    checks: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "BOOL"),
        (numbers.Integral, "INT64"),
        (decimal.Decimal, "BIGNUMERIC"),
        (numbers.Real, "FLOAT64"),
        (str, "STRING"),
        (bytes, "BYTES"),
        (dt.datetime, "DATETIME"),
        (dt.date, "DATE"),
        (dt.time, "TIME"),
    )
    for kind, type_ in checks:
        if isinstance(value, kind):
            if type_ == "DATETIME" and value.tzinfo is not None:
                return "TIMESTAMP"
            return type_
    if value is None:
        raise SqlError(
            f"query parameter @{name} is None: BigQuery needs a typed value; pass a "
            "bigquery.ScalarQueryParameter or test IS NULL in the SQL"
        )
    raise SqlError(f"query parameter @{name}: no BigQuery type for {type(value).__name__}")


def query_parameter(
    name: str, value: Any
) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    """A named query parameter typed from its Python value (lists become arrays)."""
    if isinstance(value, bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list | tuple):
        items = [v.item() if isinstance(v, np.generic) else v for v in value]
        types = {_scalar_type(name, v) for v in items}
        if len(types) != 1:
            raise SqlError(f"query parameter @{name}: an array needs one element type, not {types}")
        return bigquery.ArrayQueryParameter(name, types.pop(), items)
    return bigquery.ScalarQueryParameter(name, _scalar_type(name, value), value)


def _service_message(err: GoogleAPICallError) -> tuple[str, int | None]:
    """The service's own message (without the client's footer) and the line it points at."""
    messages = [e.get("message", "") for e in err.errors or [] if isinstance(e, dict)]
    message = next((m for m in messages if m), str(err.message).split("\n\n")[0])
    match = _POSITION.search(message)
    return " ".join(_POSITION.sub("", message).split()), int(match.group(1)) if match else None


# --- The SQL the backend sends, built by plain functions so that tests can analyse it ---


def render_sql(obj: SqlObject, project: str, datasets: Mapping[str, str]) -> str:
    """The object's SQL with each ``${dataset}`` as `project`.dataset."""
    qualified = {k: f"`{project}`.{v}" for k, v in datasets.items()}
    # Passed as template variables: render() validates only dataset names, and these
    # are validated identifiers behind a validated project id.
    return replace(obj, template_vars=qualified | obj.template_vars).render({})


def table_ref(project: str, dataset: str, name: str) -> str:
    """The quoted path for SQL (project ids may hold ``-``, ``.`` and ``:``)."""
    return f"`{project}.{dataset}.{name}`"


def deploy_sql(obj: SqlObject, project: str, datasets: Mapping[str, str]) -> str:
    """The CREATE OR REPLACE statement that deploys ``obj``, its layout and description.

    The DDL goes on a line of its own: file line n is statement line n + 1.
    """
    kind = "TABLE" if obj.materialize == "table" else "VIEW"
    ddl = f"CREATE OR REPLACE {kind} {table_ref(project, datasets[obj.dataset], obj.name)}"
    if kind == "TABLE" and obj.partition_by:
        ddl += f" PARTITION BY {obj.partition_by}"
    if kind == "TABLE" and obj.cluster_by:
        columns = [check_identifier(c, f"{obj.path}: cluster_by column") for c in obj.cluster_by]
        ddl += f" CLUSTER BY {', '.join(columns)}"
    if obj.description:
        # Shown in the BigQuery console; a JSON string is a valid BigQuery literal.
        ddl += f" OPTIONS (description = {json.dumps(obj.description, ensure_ascii=False)})"
    return f"{ddl} AS\n{render_sql(obj, project, datasets)}"


def column(name: str) -> str:
    """A column name quoted: some are reserved words in BigQuery (``rows``, ``range``)."""
    return f"`{check_identifier(name, 'column')}`"


def _as_json(alias: str, columns: Sequence[str]) -> str:
    # Keys and rows compared as JSON: NULL equals NULL (IS NOT DISTINCT FROM, as in
    # DuckDB) while the join stays an equi-join, which BigQuery requires.
    return f"TO_JSON_STRING(STRUCT({', '.join(f'{alias}.{column(c)}' for c in columns)}))"


def duplicate_keys_sql(staging: str, keys: Sequence[str]) -> str:
    """How many keys occur more than once in a merge's staging table."""
    return (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {staging} "
        f"GROUP BY {', '.join(map(column, keys))} HAVING COUNT(*) > 1)"
    )


def create_from_staging_sql(
    target: str, staging: str, partition_by: str | None, cluster_by: Sequence[str]
) -> str:
    """A merge into a table that does not exist yet: create it, with its layout."""
    options = f" PARTITION BY {partition_by}" if partition_by else ""
    if cluster_by:
        columns = [check_identifier(c, "cluster_by column") for c in cluster_by]
        options += f" CLUSTER BY {', '.join(columns)}"
    return f"CREATE TABLE {target}{options} AS SELECT * FROM {staging}"


def merge_counts_sql(target: str, staging: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    """The rows a merge will update, leave unchanged and insert, in that order."""
    return (
        "SELECT COUNTIF(t.k IS NOT NULL AND t.r != s.r), COUNTIF(t.r = s.r), "
        f"COUNTIF(t.k IS NULL) FROM (SELECT {_as_json('x', keys)} AS k, "
        f"{_as_json('x', columns)} AS r FROM {staging} AS x) AS s LEFT JOIN (SELECT "
        f"{_as_json('x', keys)} AS k, {_as_json('x', columns)} AS r FROM {target} AS x) AS t "
        "ON s.k = t.k"
    )


def merge_sql(target: str, staging: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    """One MERGE statement: atomic, so a failure leaves the target as it was."""
    updates = ", ".join(f"{column(c)} = s.{column(c)}" for c in columns if c not in keys)
    matched = (
        f"WHEN MATCHED AND {_as_json('t', columns)} != {_as_json('s', columns)} "
        f"THEN UPDATE SET {updates} "
    )
    return (
        f"MERGE {target} AS t USING {staging} AS s "
        f"ON {_as_json('t', keys)} = {_as_json('s', keys)} "
        f"{matched if updates else ''}"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(map(column, columns))}) "
        f"VALUES ({', '.join('s.' + column(c) for c in columns)})"
    )


def count_sql(ref: str) -> str:
    """The rows of a table (free on BigQuery: answered from metadata)."""
    return f"SELECT COUNT(*) FROM {ref}"


def drop_sql(kind: str, ref: str, if_exists: bool = False) -> str:
    """DROP TABLE or DROP VIEW (a table turned view, a staging table, an undo)."""
    if kind not in ("TABLE", "VIEW"):
        raise SqlError(f"cannot drop a {kind!r}")
    return f"DROP {kind} {'IF EXISTS ' if if_exists else ''}{ref}"


def versions_table_sql(ref: str) -> str:
    """The record of what is published (see ``warehouse.wap.VERSIONS``), made once."""
    return f"CREATE TABLE IF NOT EXISTS {ref} (object STRING, version STRING)"


def create_like_sql(target: str, source: str) -> str:
    """An empty published table with the candidate's columns and layout, before the
    transaction fills it: no published SQL reads a table that did not exist."""
    return f"CREATE TABLE {target} LIKE {source}"


def add_columns_sql(target: str, columns: Sequence[tuple[str, str]]) -> str:
    """New nullable columns before the transaction fills them (old SQL never reads them)."""
    added = ", ".join(f"ADD COLUMN IF NOT EXISTS {column(c)} {t}" for c, t in columns)
    return f"ALTER TABLE {target} {added}"


def drop_columns_sql(target: str, columns: Sequence[str]) -> str:
    """Columns the candidate no longer has, after the commit (new SQL never reads them)."""
    dropped = ", ".join(f"DROP COLUMN IF EXISTS {column(c)}" for c in columns)
    return f"ALTER TABLE {target} {dropped}"


def publish_transaction_sql(
    moves: Sequence[tuple[str, str, Sequence[str]]],
    record: str,
    versions: Mapping[str, str] | None,
) -> str:
    """The publish: one multi-statement transaction that replaces the rows of each
    (target, source, columns) table and the record of published versions, or nothing."""
    statements = ["BEGIN TRANSACTION;"]
    for target, source, columns in moves:
        listed = ", ".join(map(column, columns))
        statements.append(f"DELETE FROM {target} WHERE TRUE;")
        statements.append(f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {source};")
    statements.append(f"DELETE FROM {record} WHERE TRUE;")
    if versions:
        # JSON strings are valid BigQuery string literals.
        rows = ", ".join(f"({json.dumps(k)}, {json.dumps(v)})" for k, v in sorted(versions.items()))
        statements.append(f"INSERT INTO {record} (object, version) VALUES {rows};")
    statements.append("COMMIT TRANSACTION;")
    return "\n".join(statements)


@dataclass
class PublishPlan:
    """What a BigQuery publish does around its transaction, from table metadata."""

    creates: list[tuple[str, str]] = field(default_factory=list)  # (new table, candidate)
    added: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # target -> columns
    moves: list[tuple[str, str, list[str]]] = field(default_factory=list)
    removed: dict[str, list[str]] = field(default_factory=dict)  # target -> columns, after

    def undo(self) -> list[str]:
        """Statements that take back what was done before a failed transaction."""
        undo = [drop_sql("TABLE", t, if_exists=True) for t, _ in self.creates]
        undo += [drop_columns_sql(t, [c for c, _ in cols]) for t, cols in self.added.items()]
        return undo


class BigQueryWarehouse(Warehouse):
    """Warehouse on BigQuery: config dataset keys map to datasets in one project."""

    backend = "bigquery"

    def __init__(
        self,
        project: str,
        location: str,
        datasets: dict[str, str],
        client: bigquery.Client | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        super().__init__(datasets)
        if not isinstance(project, str) or not PROJECT_ID.match(project):
            raise ConfigError(f"bigquery project {project!r} is not a valid project id")
        self.project = project
        self.location = location
        self.labels = {_label(k, "key"): _label(v, "value") for k, v in (labels or {}).items()}
        self._owns_client = client is None
        try:
            # Application Default Credentials: `gcloud auth application-default login`
            # on a workstation, the attached service account in CI or on a VM.
            self.client = client or bigquery.Client(project=project, location=location)
            self.ensure_datasets()
        except (GoogleAPICallError, GoogleAuthError) as err:
            raise ZlflowError(f"cannot open BigQuery project {project}: {err}") from err

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def ensure_datasets(self) -> None:
        """Create any missing dataset of ``self.datasets`` in the configured location."""
        project, location = self.project, self.location
        for name in self.datasets.values():
            # Look before creating: one call per dataset in every job, and an account
            # with Data Editor on existing datasets needs no right to create them.
            try:
                found = self.client.get_dataset(f"{project}.{name}")
            except NotFound:
                wanted = bigquery.Dataset(f"{project}.{name}")
                wanted.location = location
                found = self.client.create_dataset(wanted, exists_ok=True)
            if found.location and found.location.lower() != location.lower():
                raise ConfigError(
                    f"dataset {project}.{name} is in {found.location}, not {location}: "
                    "queries cannot join datasets across locations"
                )

    def _id(self, dataset_key: str, name: str) -> str:
        """``project.dataset.name`` for API calls."""
        return f"{self.project}.{self.table(dataset_key, name)}"

    def _ref(self, dataset_key: str, name: str) -> str:
        """The quoted path for SQL (project ids may hold ``-``, ``.`` and ``:``)."""
        return f"`{self._id(dataset_key, name)}`"

    def render(self, obj: SqlObject) -> str:
        """The object's SQL with each ``${dataset}`` as `project`.dataset."""
        return render_sql(obj, self.project, self.datasets)

    def translate(self, bigquery_sql: str) -> str:
        return bigquery_sql

    def query_arrow(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self.query_native(self.render(read_sql_text(sql)), params)

    def _query(
        self,
        sql: str,
        params: dict[str, Any] | None,
        what: str,
        first_line: int,
        dry_run: bool,
    ) -> tuple[bigquery.QueryJob, RowIterator | None]:
        """Run one job; an error becomes one SqlError saying ``what`` failed, and where.

        ``first_line`` is the statement line on which the file's text starts (DDL we put
        in front of a file's SELECT shifts the line the service reports).
        """
        config = bigquery.QueryJobConfig(
            query_parameters=[query_parameter(k, v) for k, v in (params or {}).items()],
            labels=self.labels,
            dry_run=dry_run,
        )
        if dry_run:
            # A cached result would report 0 bytes: estimate the query as if run cold.
            config.use_query_cache = False
        job = None
        try:
            job = self.client.query(
                sql, job_config=config, project=self.project, location=self.location
            )
            return job, None if dry_run else job.result()
        except GoogleAPICallError as err:
            message, line = _service_message(err)
            where = ""
            if line is not None and line >= first_line:
                where = f" at line {line - first_line + 1}"
            elif line is not None:
                where = " in the generated DDL"
            job_id = f" (job {job.job_id})" if job is not None and job.job_id else ""
            error = MissingObjectError if isinstance(err, NotFound) else SqlError
            raise error(f"{what} failed on BigQuery{where}: {message}{job_id}") from err

    def _run(
        self,
        sql: str,
        params: dict[str, Any] | None = None,
        what: str = "query",
        first_line: int = 1,
        dry_run: bool = False,
    ) -> RowIterator | None:
        """Run one statement: its rows, or None for a dry run (see ``_query``)."""
        return self._query(sql, params, what, first_line, dry_run)[1]

    def dry_run_bytes(self, query: SqlObject | str) -> int:
        """Bytes the query would process, from a dry run: free, and nothing is executed.

        ``query`` is an SQL object (its SELECT as deployed, with template variables) or
        BigQuery text with ``${dataset}`` placeholders. Reading a table or view that does
        not exist raises ``MissingObjectError``; invalid SQL raises ``SqlError``.
        """
        obj = read_sql_text(query) if isinstance(query, str) else query
        job, _ = self._query(self.render(obj), None, f"{obj.path}: dry run", 1, True)
        return int(job.total_bytes_processed or 0)

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._run(sql, params)

    def query_native(self, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
        rows = self._run(sql, params)
        assert rows is not None
        # No Storage API client: it would dial Google's gRPC endpoint. REST pages suit
        # export-sized results (about 1 s for 5k rows x 60 columns, 15 s for 360k x 9).
        return rows.to_arrow(create_bqstorage_client=False)

    def deploy(self, obj: SqlObject) -> TableInfo:
        target = self.table(obj.dataset, obj.name)
        kind = "TABLE" if obj.materialize == "table" else "VIEW"
        what = f"{obj.path}: deploying {target}"
        existing = self._kind(obj.dataset, obj.name)
        if existing is not None and existing != kind:
            # CREATE OR REPLACE cannot change a table into a view or back, and DDL cannot
            # run in a transaction: check that the query compiles before dropping.
            self._run(self.render(obj), what=what, dry_run=True)
            self._run(drop_sql(existing, self._ref(obj.dataset, obj.name)), what=what)
        # The DDL goes on a line of its own: file line n is statement line n + 1.
        self._run(deploy_sql(obj, self.project, self.datasets), what=what, first_line=2)
        return self.table_info(obj.dataset, obj.name)

    def _load(self, path: Path, table_id: str) -> None:
        """Replace ``table_id`` with a Parquet file in one load job (atomic in BigQuery)."""
        parquet = bigquery.ParquetOptions()
        parquet.enable_list_inference = True
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            parquet_options=parquet,
            labels=self.labels,
        )
        with open(path, "rb") as handle:
            job = self.client.load_table_from_file(
                handle, table_id, job_config=config, project=self.project, location=self.location
            )
        job.result()

    def load_parquet(self, dataset_key: str, name: str, path: Path) -> TableInfo:
        target = self.table(dataset_key, name)
        try:
            self._load(path, self._id(dataset_key, name))
        except (GoogleAPICallError, OSError) as err:
            message = _service_message(err)[0] if isinstance(err, GoogleAPICallError) else err
            raise ZlflowError(f"loading {path} into {target} failed: {message}") from err
        return self.table_info(dataset_key, name)

    def merge_parquet(
        self,
        dataset_key: str,
        name: str,
        path: Path,
        keys: Sequence[str],
        partition_by: str | None = None,
        cluster_by: Sequence[str] = (),
    ) -> MergeResult:
        target = self.table(dataset_key, name)
        ref = self._ref(dataset_key, name)
        keys = [check_identifier(k, "merge key") for k in keys]
        staging_name = f"_zlflow_merge_{name}_{uuid.uuid4().hex[:12]}"
        staging_id = self._id(dataset_key, staging_name)
        staging = f"`{staging_id}`"
        what = f"merging {path} into {target}"
        try:
            self._load(path, staging_id)
            loaded = self.client.get_table(staging_id)
            loaded.expires = dt.datetime.now(dt.UTC) + _STAGING_TTL
            self.client.update_table(loaded, ["expires"])
            duplicates = self._scalar(duplicate_keys_sql(staging, keys), what)
            if duplicates:
                raise ZlflowError(f"{path}: {duplicates} duplicate key(s) on {keys} for {target}")
            try:
                existing = self.client.get_table(self._id(dataset_key, name))
            except NotFound:
                create = create_from_staging_sql(ref, staging, partition_by, cluster_by)
                self._run(create, what=what)
                rows = self._scalar(count_sql(staging), what)
                return MergeResult(inserted=rows, updated=0, unchanged=0, rows=rows)
            expected = [(f.name, _field_type(f)) for f in existing.schema]
            found = [(f.name, _field_type(f)) for f in loaded.schema]
            added = columns_to_add(expected, found, f"{path} does not match {target}")
            if added:  # additive, nullable: nothing reads them before the MERGE fills them
                self._run(add_columns_sql(ref, added), what=what)
            columns = [c for c, _ in expected + added]
            counts = self._run(merge_counts_sql(ref, staging, keys, columns), what=what)
            assert counts is not None
            updated, unchanged, inserted = next(iter(counts)).values()
            self._run(merge_sql(ref, staging, keys, columns), what=what)
            rows = self._scalar(count_sql(ref), what)
        except (GoogleAPICallError, OSError) as err:
            message = _service_message(err)[0] if isinstance(err, GoogleAPICallError) else err
            raise ZlflowError(f"{what} failed: {message}") from err
        finally:
            # A leftover expires on its own; never hide the merge's own outcome.
            with contextlib.suppress(GoogleAPICallError):
                self.client.delete_table(staging_id, not_found_ok=True)
        return MergeResult(
            inserted=int(inserted), updated=int(updated), unchanged=int(unchanged), rows=rows
        )

    def _scalar(self, sql: str, what: str = "query") -> int:
        rows = self._run(sql, what=what)
        assert rows is not None
        return int(next(iter(rows))[0])

    def _publish_plan(
        self, tables: Sequence[tuple[str, str]], published: Mapping[str, str]
    ) -> PublishPlan:
        """Read the metadata of each table pair and plan the publish; refuse before any
        change what BigQuery cannot do inside a transaction (a retyped column, a view
        that becomes a table)."""
        plan = PublishPlan()
        for key, name in tables:
            target_id = f"{self.project}.{published[key]}.{name}"
            target, source = f"`{target_id}`", self._ref(key, name)
            candidate = [
                (f.name, _field_type(f)) for f in self.client.get_table(self._id(key, name)).schema
            ]
            try:
                existing = self.client.get_table(target_id)
            except NotFound:
                plan.creates.append((target, source))
                plan.moves.append((target, source, [c for c, _ in candidate]))
                continue
            fix = f"drop it (bq rm -f {self.project}:{published[key]}.{name}) and run again"
            if existing.table_type == "VIEW":
                raise ZlflowError(
                    f"publishing {target_id}: the published view would become a table, which "
                    f"BigQuery cannot do inside the publish transaction; nothing was "
                    f"published. If intended, {fix}"
                )
            old = dict((f.name, _field_type(f)) for f in existing.schema)
            retyped = [f"{c} {old[c]} -> {t}" for c, t in candidate if c in old and old[c] != t]
            if retyped:
                raise ZlflowError(
                    f"publishing {target_id} would change column types ({', '.join(retyped)}), "
                    "which BigQuery cannot do inside the publish transaction; nothing was "
                    f"published. If intended, {fix}"
                )
            added = [(c, t) for c, t in candidate if c not in old]
            removed = [c for c in old if c not in dict(candidate)]
            if added:
                plan.added[target] = added
            if removed:
                plan.removed[target] = removed
            plan.moves.append((target, source, [c for c, _ in candidate]))
        return plan

    def publish(
        self,
        tables: Sequence[tuple[str, str]],
        views: Sequence[SqlObject],
        versions: Mapping[str, str] | None = None,
    ) -> None:
        """Table rows and the version record move in one multi-statement transaction.

        DDL cannot run in a BigQuery transaction, so the order keeps every reader on the
        old or the new state: before the transaction only what no published SQL reads is
        added (a new table, empty; a new nullable column), and taken back if the
        transaction fails; after it commits, views whose text changed are recreated and
        columns the candidate dropped are removed (no new SQL reads them).
        """
        published = published_datasets(self.datasets)
        what = "publishing the candidate"
        record = table_ref(self.project, published["market_data"], VERSIONS)
        self._run(versions_table_sql(record), what=what)
        plan = self._publish_plan(tables, published)
        script = publish_transaction_sql(plan.moves, record, versions)
        try:
            for target, source in plan.creates:
                self._run(create_like_sql(target, source), what=what)
            for target, columns in plan.added.items():
                self._run(add_columns_sql(target, columns), what=what)
            self._run(script, what=f"{what} (one transaction)")
        except ZlflowError as err:
            for sql in plan.undo():
                try:
                    self._run(sql, what=f"{what}: undoing the preparation")
                except ZlflowError as undo:  # the next publish fills what is left
                    log.warning("%s", undo)
            raise ZlflowError(f"{err}; nothing was published") from err
        for obj in views:
            target_id = f"{self.project}.{published[obj.dataset]}.{obj.name}"
            deploy = deploy_sql(obj, self.project, published)
            try:
                current = self.client.get_table(target_id)
            except NotFound:
                current = None
            if current is not None and current.table_type != "VIEW":
                self._run(drop_sql("TABLE", f"`{target_id}`"), what=what)
            elif current is not None and current.view_query == render_sql(
                obj, self.project, published
            ):
                continue  # the same text: a view changes only with its SQL file
            self._run(deploy, what=what, first_line=2)
        for target, columns in plan.removed.items():
            self._run(drop_columns_sql(target, columns), what=what)

    def list_objects(self, dataset_key: str) -> list[str]:
        dataset = f"{self.project}.{self.datasets[dataset_key]}"
        return sorted(t.table_id for t in self.client.list_tables(dataset))

    def drop_dataset(self, dataset_key: str) -> None:
        dataset = f"{self.project}.{self.datasets[dataset_key]}"
        try:
            self.client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
        except GoogleAPICallError as err:
            raise ZlflowError(f"dropping {dataset} failed: {_service_message(err)[0]}") from err

    def _kind(self, dataset_key: str, name: str) -> str | None:
        try:
            table = self.client.get_table(self._id(dataset_key, name))
        except NotFound:
            return None
        return "VIEW" if table.table_type == "VIEW" else "TABLE"

    def table_info(self, dataset_key: str, name: str) -> TableInfo:
        dataset = self.datasets[dataset_key]
        try:
            table = self.client.get_table(self._id(dataset_key, name))
        except NotFound as err:
            raise ZlflowError(f"{dataset}.{name} does not exist in project {self.project}") from err
        is_view = table.table_type == "VIEW"
        rows = table.num_rows
        if not is_view and rows is None:
            # A table's COUNT(*) is free (metadata only); a view's would be a billed query.
            rows = self._scalar(count_sql(self._ref(dataset_key, name)))
        return TableInfo(
            dataset=dataset,
            name=name,
            kind="view" if is_view else "table",
            rows=None if is_view else int(rows),
            columns=[(f.name, _field_type(f)) for f in table.schema],
        )
