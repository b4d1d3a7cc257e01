# Input functions and params lookups of the rules in rules/warehouse.smk (the warehouse).

from zlflow.objects import check_references, deploy_order
from zlflow.reference import config_subset
from zlflow.sources.files import kept_sample_sources
from zlflow.warehouse.wap import LAYERS


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


def assertion_inputs(wildcards):
    obj = ASSERTIONS[wildcards.assertion]
    deps = check_references(obj, KNOWN_OBJECTS)
    return {"sql": str(obj.path), "upstream": markers(deps)}


def publish_objects():
    """Every object of the candidate, loaded tables first, then SQL objects in deploy
    order, with what the publish job needs to recreate views over published datasets."""
    keys = set(built_objects())
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


def built_objects():
    """``dataset.name`` of every object the warehouse markers stand for."""
    return sorted(f"{Path(m).parent.name}.{Path(m).stem}" for m in warehouse_markers())


def warehouse_markers():
    """Markers of the layers up to training (the API layer belongs to publishing)."""
    layers = {
        k
        for k in KNOWN_OBJECTS
        if k.split(".")[0] in ("market_data", "staging", "features", "training")
    }
    layers -= {ASSERTION_RESULTS, "training.walk_forward_folds"}
    return [marker(k) for k in sorted(layers)]
