# Input functions and params lookups of the rules in rules/cost.smk (the cost guard).


def cost_guard_inputs(wildcards):
    """Every SQL file and the warehouse markers; nothing on DuckDB, which it refuses."""
    if config["backend"] != "bigquery":
        return {}
    files = [obj.path for obj in [*OBJECTS.values(), *ASSERTIONS.values()]]
    return {
        "sql": sorted(set(map(str, files))),
        "markers": warehouse_markers() + [PUBLISHED_MARKER],
    }


def cost_caps():
    settings = config.get("bigquery", {})
    return {
        "max_bytes_per_object": settings.get("max_bytes_per_object", 10 * 2**30),
        "max_bytes_total": settings.get("max_bytes_total"),
    }
