# Config validation, the names and paths every rule file shares, and wildcard constraints.
# Input functions live beside the rules that use them (rules/inputs/<stage>.smk).

import itertools
import os
import sys
from datetime import date
from pathlib import Path

from snakemake.utils import validate

from zlflow.config import check_config
from zlflow.errors import ConfigError
from zlflow.objects import (
    ASSERTION_RESULTS,
    RAW_TABLES,
    SQL_DATASETS,
    assertion_objects,
    loaded_tables,
    sql_objects,
)
from zlflow.reference import REFERENCE_TABLES
from zlflow.pipeline import user_files
from zlflow.sources import live
from zlflow.sources.files import specs_from_config
from zlflow.warehouse.wap import candidate_datasets


def refuse(err: ConfigError) -> None:
    """Stop at parse time with the error as one line: no Snakemake location or traceback."""
    sys.exit(f"zlflow: {err}")


try:
    check_config(config, Path(workflow.basedir, "config", "schema.yaml"))
except ConfigError as err:
    refuse(err)
validate(config, schema="../config/schema.yaml")  # fills in schema defaults
try:
    RAW_FILES = {t: specs_from_config(user_files(config), t) for t in RAW_TABLES}
except ConfigError as err:
    refuse(err)

RESULTS = f"results/{config['experiment']}"
PUBLISHED_MARKER = f"{RESULTS}/published.json"
SQL_DIR = "sql"
OBJECTS = sql_objects(SQL_DIR, config["horizons"])
ASSERTIONS = assertion_objects(SQL_DIR)
KNOWN_OBJECTS = set(OBJECTS) | loaded_tables()


def alternation(names):
    """A wildcard constraint that matches exactly these names."""
    return "|".join(sorted(names)) or "__none__"


wildcard_constraints:
    raw_table=alternation(RAW_TABLES),
    reference_table=alternation(REFERENCE_TABLES),
    sql_dataset=alternation(SQL_DATASETS),
    sql_name=alternation({obj.name for obj in OBJECTS.values()}),
    assertion=alternation(ASSERTIONS),
    horizon=alternation(config["horizons"]),


def warehouse_params(candidate=False):
    """What a job needs to connect: backend, its settings and dataset names (for a job
    that builds or audits the candidate, the candidate mapping: write-audit-publish)."""
    duckdb = dict(config.get("duckdb", {}))
    duckdb["path"] = str(Path(RESULTS, duckdb.get("path", "warehouse.duckdb")))
    datasets = dict(config["datasets"])
    params = {
        "backend": config["backend"],
        "duckdb": duckdb,
        "datasets": candidate_datasets(datasets) if candidate else datasets,
    }
    if config["backend"] == "bigquery":
        # Where the warehouse is, not the cost caps: a new cap must not rerun every job.
        params["bigquery"] = {
            k: v
            for k, v in config["bigquery"].items()
            if k in ("project", "location", "api_endpoint")
        }
    return params


def marker(key):
    """The marker file standing in for warehouse object ``dataset.name``."""
    dataset, name = key.split(".")
    return f"{RESULTS}/warehouse/{dataset}/{name}.json"


def markers(keys):
    """Markers of the objects ``keys``; assertion results stand for every assertion."""
    paths = []
    for key in keys:
        paths.extend(assertion_markers() if key == ASSERTION_RESULTS else [marker(key)])
    return paths


def outputs(pattern, **wildcards):
    """``expand()`` for another rule's output (``rules.<rule>.output.<name>``): the paths for
    every combination of ``wildcards`` values, in expand's order. expand() refuses the
    storage flag a default storage provider adds (profiles/googlebatch); this applies the
    wildcards as Snakemake does to a job's own files, keeping the flag."""
    names = list(wildcards)
    values = [v if isinstance(v, (list, tuple)) else [v] for v in wildcards.values()]
    return [
        pattern.apply_wildcards(dict(zip(names, combination)))
        for combination in itertools.product(*values)
    ]


def assertion_markers():
    return [f"{RESULTS}/assertions/{name}.json" for name in sorted(ASSERTIONS)]


# --- models ---------------------------------------------------------------------------

MODELS = list(config["models"])
# What is published and scored: the configured models and their combination.
PUBLISHED = MODELS + ["ensemble"]


wildcard_constraints:
    model=alternation(MODELS),
    fold=r"\d+",


# --- ingestion ------------------------------------------------------------------------

# Resolved once per parse, so a run's ranges are fixed and `end_date: today` moves daily.
TODAY = date.today()
try:
    live.check_sources(config, TODAY)
except ConfigError as err:
    refuse(err)

LIVE_SOURCES = live.selected(config)
# Ingest jobs hold the warehouse only to read the ingest log and to merge, not while they
# fetch. On DuckDB the backend's file lock orders those moments, so the fetches run side by
# side (warehouse=0); on BigQuery they take the warehouse slot as every other job does
# (concurrent MERGEs into one candidate table can fail to serialise there).
INGEST_WAREHOUSE_SLOTS = 0 if config["backend"] == "duckdb" else 1
LIVE_TABLES = live.live_tables(config)
SAMPLE_TABLES = [t for t in RAW_TABLES if t not in LIVE_TABLES]
INGEST_UNITS = live.ingest_units(config)


wildcard_constraints:
    fred_series=alternation(INGEST_UNITS.get("fred", [])),
    weather_location=alternation(INGEST_UNITS.get("weather", [])),
    databento_symbol=alternation(INGEST_UNITS.get("databento", [])),


def live_api_keys():
    """API keys of the selected live sources that are set, to pass on to jobs (envvars).

    Only set ones: `snakemake -n` must work without keys; a job that needs a missing key
    fails naming the variable.
    """
    names = [live.API_KEYS[s] for s in LIVE_SOURCES if s in live.API_KEYS]
    return sorted(name for name in names if os.environ.get(name))


def get_final_output():
    """Every default target (rule all); the functions it calls are in rules/inputs/."""
    return (
        [rules.run_manifest.output[0]]
        + export_files()
        + model_outputs()
        + publish_outputs()
    )
