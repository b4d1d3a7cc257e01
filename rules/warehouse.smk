# Warehouse layers, write-audit-publish: load raw and reference tables and deploy one SQL
# object per job into candidate datasets, assert on the candidate, then publish every
# object at once. Every output is a JSON marker describing what was done in the warehouse.


include: "inputs/warehouse.smk"


rule load_raw:
    input:
        sample_inputs,
    output:
        marker=f"{RESULTS}/warehouse/market_data/{{raw_table}}.json",
        snapshot=f"{RESULTS}/raw/{{raw_table}}.parquet",
    log:
        f"{RESULTS}/logs/load_raw/{{raw_table}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/load_raw/{{raw_table}}.tsv"
    wildcard_constraints:
        raw_table=alternation(SAMPLE_TABLES),  # live sources write the others
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(candidate=True),
        sample_dir=config["sample_dir"],
        files=raw_file_entries,
    script:
        "../scripts/load_raw.py"


rule load_reference:
    output:
        marker=f"{RESULTS}/warehouse/market_data/{{reference_table}}.json",
        snapshot=f"{RESULTS}/raw/{{reference_table}}.parquet",
    log:
        f"{RESULTS}/logs/load_reference/{{reference_table}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/load_reference/{{reference_table}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(candidate=True),
        settings=reference_settings,
    script:
        "../scripts/load_reference.py"


rule deploy_object:
    input:
        unpack(deploy_inputs),
    output:
        f"{RESULTS}/warehouse/{{sql_dataset}}/{{sql_name}}.json",
    log:
        f"{RESULTS}/logs/deploy/{{sql_dataset}}/{{sql_name}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/deploy/{{sql_dataset}}/{{sql_name}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=lambda wildcards: warehouse_params(
            candidate=wildcards.sql_dataset != "api"
        ),
        name=lambda wildcards: wildcards.sql_name,
        template_vars=lambda wildcards: sql_object(wildcards).template_vars,
    script:
        "../scripts/deploy_object.py"


rule run_assertion:
    input:
        unpack(assertion_inputs),
    output:
        f"{RESULTS}/assertions/{{assertion}}.json",
    log:
        f"{RESULTS}/logs/assertions/{{assertion}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/assertions/{{assertion}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(candidate=True),
    script:
        "../scripts/run_assertion.py"


rule publish_warehouse:
    """Replace the published layers by the audited candidate, every object at once."""
    input:
        candidate=warehouse_markers(),
        # Assertions gate publishing but an edited assertion alone republishes nothing.
        assertions=ancient(assertion_markers()),
    output:
        PUBLISHED_MARKER,
    log:
        f"{RESULTS}/logs/publish_warehouse.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish_warehouse.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(candidate=True),
        objects=publish_objects(),
    script:
        "../scripts/publish_warehouse.py"


rule warehouse:
    """Build, audit and publish every warehouse object."""
    input:
        warehouse_markers(),
        PUBLISHED_MARKER,


rule assertions:
    """Run every data-quality assertion."""
    input:
        assertion_markers(),
