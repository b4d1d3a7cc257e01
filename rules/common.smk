# Config validation, paths and input functions: everything rules look up lives here.

import json
import sys
from pathlib import Path

from snakemake.utils import validate

from zlflow.codeversion import calibration_version, code_version
from zlflow.config import check_config
from zlflow.errors import ConfigError
from zlflow.objects import (
    ASSERTION_RESULTS,
    deploy_order,
    RAW_TABLES,
    SQL_DATASETS,
    assertion_objects,
    check_references,
    horizon_view_name,
    loaded_tables,
    sql_objects,
)
from zlflow.reference import REFERENCE_TABLES, config_subset
from zlflow.pipeline import user_files
from zlflow.sources.files import kept_sample_sources, specs_from_config
from zlflow.warehouse.wap import LAYERS, candidate_datasets


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


def sample_inputs(wildcards):
    """Every file behind one raw table: the user's (source: files) and the bundled ones
    they do not replace (folders expanded to their files)."""
    specs = RAW_FILES[wildcards.raw_table]
    files = [str(spec.path) for spec in specs]
    for source in kept_sample_sources(wildcards.raw_table, specs):
        path = Path(config["sample_dir"], source.path)
        files.extend(sorted(map(str, path.iterdir())) if path.is_dir() else [str(path)])
    return files


def raw_file_entries(wildcards):
    """The user's file entries for one raw table (a params value: an edit reloads it)."""
    table = wildcards.raw_table
    return {table: list((user_files(config) or {}).get(table) or [])}


def reference_settings(wildcards):
    return config_subset(config, wildcards.reference_table, sorted(ASSERTIONS))


def sql_object(wildcards):
    return OBJECTS[f"{wildcards.sql_dataset}.{wildcards.sql_name}"]


def deploy_inputs(wildcards):
    """The object's SQL file and the markers of everything it reads (an API view reads
    the published layers: their one marker)."""
    obj = sql_object(wildcards)
    deps = check_references(obj, KNOWN_OBJECTS)
    if obj.dataset in LAYERS:
        return {"sql": str(obj.path), "upstream": markers(deps)}
    published = [
        d for d in deps if d.split(".")[0] in LAYERS and d != ASSERTION_RESULTS
    ]
    others = [d for d in deps if d not in published]
    upstream = markers(others) + ([PUBLISHED_MARKER] if published else [])
    return {"sql": str(obj.path), "upstream": upstream}


def publish_objects():
    """Every object of the candidate, loaded tables first, then SQL objects in deploy
    order, with what the publish job needs to recreate views over published datasets."""
    keys = {f"{Path(m).parent.name}.{Path(m).stem}" for m in warehouse_markers()}
    loaded = sorted(k for k in keys if k not in OBJECTS)
    ordered = [k for k in deploy_order(OBJECTS) if k in keys]
    return {k: None for k in loaded} | {
        k: {
            "sql": str(OBJECTS[k].path),
            "name": OBJECTS[k].name,
            "template_vars": dict(OBJECTS[k].template_vars),
        }
        for k in ordered
    }


def assertion_inputs(wildcards):
    obj = ASSERTIONS[wildcards.assertion]
    deps = check_references(obj, KNOWN_OBJECTS)
    return {"sql": str(obj.path), "upstream": markers(deps)}


def warehouse_markers():
    """Markers of the layers up to training (the API layer belongs to publishing)."""
    layers = {
        k
        for k in KNOWN_OBJECTS
        if k.split(".")[0] in ("market_data", "staging", "features", "training")
    }
    layers -= {ASSERTION_RESULTS, "training.walk_forward_folds"}
    return [marker(k) for k in sorted(layers)]


def api_markers():
    return [marker(k) for k in sorted(OBJECTS) if k.startswith("api.")]


def assertion_markers():
    return [f"{RESULTS}/assertions/{name}.json" for name in sorted(ASSERTIONS)]


def export_files():
    return [
        f"{RESULTS}/export/zl_{h}_v1.{ext}"
        for h in sorted(config["horizons"])
        for ext in ("parquet", "json")
    ]


def get_final_output():
    return (
        [f"{RESULTS}/manifest.json"]
        + export_files()
        + model_outputs()
        + publish_outputs()
    )


# --- models ---------------------------------------------------------------------------

MODELS = list(config["models"])
# What is published and scored: the configured models and their combination.
PUBLISHED = MODELS + ["ensemble"]


wildcard_constraints:
    model=alternation(MODELS),
    fold=r"\d+",


def export_parquet(wildcards):
    return f"{RESULTS}/export/zl_{wildcards.horizon}_v1.parquet"


def ancient_export(wildcards):
    """The export as an input whose timestamp never triggers a rerun: fold and tuning jobs
    rerun on their own rows' fingerprints (params) instead, so new data costs only the
    folds it changes."""
    return ancient(export_parquet(wildcards))


def fold_table(wildcards):
    """The fold table once its checkpoint has run (ancient: fingerprints decide reruns)."""
    return ancient(
        checkpoints.walk_forward_folds.get(horizon=wildcards.horizon).output.table
    )


def fold_fingerprint(wildcards):
    import pandas as pd

    table = pd.read_csv(
        checkpoints.walk_forward_folds.get(horizon=wildcards.horizon).output.table
    )
    return table.loc[table["fold"] == int(wildcards.fold), "fingerprint"].item()


def tuning_fingerprint(wildcards):
    import json

    sidecar = checkpoints.walk_forward_folds.get(
        horizon=wildcards.horizon
    ).output.sidecar
    return json.loads(Path(sidecar).read_text())["tuning_fingerprint"]


def fold_ids(horizon):
    """Folds of one horizon, read from the fold table once its checkpoint has run."""
    import pandas as pd

    table = checkpoints.walk_forward_folds.get(horizon=horizon).output.table
    return pd.read_csv(table)["fold"].tolist()


def fold_files(model, horizon, name):
    """One file per fold of a (model, horizon)."""
    return [
        f"{RESULTS}/models/{model}/{horizon}/fold_{k}/{name}" for k in fold_ids(horizon)
    ]


def fold_predictions(wildcards):
    return fold_files(wildcards.model, wildcards.horizon, "predictions.parquet")


def fold_shap(wildcards):
    return fold_files(wildcards.model, wildcards.horizon, "shap.parquet")


def all_fold_predictions(wildcards):
    return [
        path
        for h in sorted(config["horizons"])
        for m in MODELS
        for path in fold_files(m, h, "predictions.parquet")
    ]


def calibrated_predictions(wildcards):
    return [
        f"{RESULTS}/models/{m}/{wildcards.horizon}/oos_calibrated.parquet"
        for m in PUBLISHED
    ]


def model_settings():
    """Config values that change every model's results (a params value of model rules)."""
    return {"quantiles": list(config["quantiles"]), "seed": config["seed"]}


def horizon_days(wildcards):
    return config["horizons"][wildcards.horizon]


def model_fixed_params(wildcards):
    """The model's fixed parameters from config (only its own: others' do not rerun it)."""
    return dict(config["model_params"].get(wildcards.model) or {})


def model_tuning(wildcards):
    """Tuning settings as they apply to one model."""
    tuning = config["tuning"]
    return {
        "n_trials": tuning["n_trials_by_model"].get(
            wildcards.model, tuning["n_trials"]
        ),
        "timeout_s": tuning.get("timeout_s"),
        "validation_sessions": tuning["validation_sessions"],
    }


def model_code(wildcards):
    """Hash of the model's own and the shared modelling source: a change reruns its jobs."""
    return code_version(wildcards.model)


def calibration_params():
    """Calibration settings and code: a change reruns calibration, not the model fits."""
    return dict(config["calibration"]) | {"code": calibration_version()}


def ensemble_members():
    """The configured models and the baselines the ensemble combines."""
    return MODELS + list(config["ensemble"]["baselines"])


def model_outputs():
    return [f"{RESULTS}/warehouse/training/walk_forward_folds.json"] + [
        f"{RESULTS}/{kind}/{h}/{name}"
        for h in sorted(config["horizons"])
        for kind, name in (
            ("metrics", "metrics.csv"),
            ("forecast", "forecast.parquet"),
            ("plots", "fan.png"),
        )
    ]


# --- publish --------------------------------------------------------------------------


def all_shap_files(wildcards):
    """Every fold's and every live model's SHAP drivers."""
    return [
        path
        for h in sorted(config["horizons"])
        for m in MODELS
        for path in [
            *fold_files(m, h, "shap.parquet"),
            f"{RESULTS}/models/{m}/{h}/live/shap.parquet",
        ]
    ]


def dashboard_settings():
    return dict(config["dashboard"]) | {
        "p_up_low": config["alerts"]["p_up_low"],
        "p_up_high": config["alerts"]["p_up_high"],
    }


def publish_outputs():
    return api_markers() + [
        f"{RESULTS}/publish/{name}" for name in ("alerts.json", "dashboard.html")
    ]


# --- cost guard -----------------------------------------------------------------------


def cost_guard_inputs(wildcards):
    """Every SQL file and the warehouse markers; nothing on DuckDB, which it refuses."""
    if config["backend"] != "bigquery":
        return {}
    files = [obj.path for obj in [*OBJECTS.values(), *ASSERTIONS.values()]]
    return {
        "sql": sorted(set(map(str, files))),
        "markers": warehouse_markers() + [PUBLISHED_MARKER],
    }


def built_objects():
    """``dataset.name`` of every object the warehouse markers stand for."""
    return sorted(f"{Path(m).parent.name}.{Path(m).stem}" for m in warehouse_markers())


def cost_caps():
    settings = config.get("bigquery", {})
    return {
        "max_bytes_per_object": settings.get("max_bytes_per_object", 10 * 2**30),
        "max_bytes_total": settings.get("max_bytes_total"),
    }


# --- ingestion ------------------------------------------------------------------------

import os
from datetime import date

from zlflow.sources import live

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


def ingest_markers(table=None):
    """Markers of the selected live sources' ingest jobs (of those writing ``table``)."""
    return [
        f"{RESULTS}/ingest/{source}/{unit}.json"
        for source in LIVE_SOURCES
        if table in (None, live.SOURCE_TABLES[source])
        for unit in INGEST_UNITS[source]
    ]


def ingested_table_inputs(wildcards):
    return ingest_markers(wildcards.raw_table)


def ingest_range(source):
    """The inclusive range a source's jobs cover this run (a params value)."""
    return live.date_range(config, source, TODAY)


def ingest_retry():
    return dict(config["sources"]["retry"])


def fred_settings(wildcards):
    fred = config["sources"]["fred"]
    return {
        "series": wildcards.fred_series,
        "release_lag_days": config["release_lags"][wildcards.fred_series],
        "lookback_days": fred["lookback_days"],
        "base_url": fred["base_url"],
    }


def weather_settings(wildcards):
    weather = config["sources"]["weather"]
    return {
        "location": live.weather_locations(config)[wildcards.weather_location],
        "lookback_days": weather["lookback_days"],
        "base_url": weather["base_url"],
    }


def databento_settings(wildcards):
    databento = config["sources"]["databento"]
    return {
        "symbol": wildcards.databento_symbol,
        "continuous": live.databento_symbols(config)[wildcards.databento_symbol],
        "dataset": databento["dataset"],
        "max_cost_usd": databento["max_cost_usd"],
        "gateway": databento["gateway"],
        "lookback_days": databento["lookback_days"],
    }


def synthetic_settings():
    synthetic = config["sources"]["synthetic"]
    return {
        "symbols": synthetic["symbols"],
        "years": synthetic["years"],
        "seed": synthetic["seed"],
        "start": config["sources"]["start_date"],
    }


def live_api_keys():
    """API keys of the selected live sources that are set, to pass on to jobs (envvars).

    Only set ones: `snakemake -n` must work without keys; a job that needs a missing key
    fails naming the variable.
    """
    names = [live.API_KEYS[s] for s in LIVE_SOURCES if s in live.API_KEYS]
    return sorted(name for name in names if os.environ.get(name))
