# Input functions and params lookups of the rules in rules/export.smk (the export).


def export_files():
    """Every horizon's export and its sidecar."""
    return [
        path
        for h in sorted(config["horizons"])
        for output in (
            rules.export_training.output.parquet,
            rules.export_training.output.sidecar,
        )
        for path in outputs(output, horizon=h)
    ]
