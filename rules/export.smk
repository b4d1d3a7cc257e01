# Export: each horizon's published training view to Parquet. Publishing waits for every
# assertion, so the export reads only audited data.


import json

from zlflow.objects import horizon_view_name


include: "inputs/export.smk"


rule export_training:
    input:
        published=PUBLISHED_MARKER,
    output:
        parquet=f"{RESULTS}/export/zl_{{horizon}}_v1.parquet",
        sidecar=f"{RESULTS}/export/zl_{{horizon}}_v1.json",
    log:
        f"{RESULTS}/logs/export/zl_{{horizon}}_v1.log",
    benchmark:
        f"{RESULTS}/benchmarks/export/zl_{{horizon}}_v1.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
        view=lambda wildcards: horizon_view_name(wildcards.horizon),
        compression=config["export"]["compression"],
    script:
        "../scripts/export_training.py"


rule export:
    """Export every horizon's training view."""
    input:
        export_files(),


rule run_manifest:
    """What produced this run: config, package versions, git commit, data fingerprints."""
    input:
        sidecars=outputs(
            rules.export_training.output.sidecar, horizon=sorted(config["horizons"])
        ),
    output:
        f"{RESULTS}/manifest.json",
    log:
        f"{RESULTS}/logs/manifest.log",
    benchmark:
        f"{RESULTS}/benchmarks/manifest.tsv"
    conda:
        "../envs/zlflow.yaml"
    params:
        config=lambda wildcards: json.loads(json.dumps(config, default=str)),
    script:
        "../scripts/run_manifest.py"
