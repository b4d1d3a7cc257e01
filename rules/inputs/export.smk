# Input functions and params lookups of the rules in rules/export.smk (the export).


def export_files():
    """Every horizon's export and its sidecar."""
    return [
        path
        for h in sorted(config["horizons"])
        for path in expand(list(rules.export_training.output), horizon=h)
    ]
