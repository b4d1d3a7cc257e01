# Cost guard (BigQuery): dry-run every SQL object and assertion, report the bytes each
# would process, and stop with the objects above bigquery.max_bytes_per_object named.
# A dry run needs the tables a query reads, so the guard runs once the warehouse exists.


include: "inputs/cost.smk"


rule dry_run_costs:
    input:
        unpack(cost_guard_inputs),
    output:
        csv=f"{RESULTS}/cost/dry_run.csv",
        summary=f"{RESULTS}/cost/dry_run.json",
    log:
        f"{RESULTS}/logs/cost/dry_run.log",
    benchmark:
        f"{RESULTS}/benchmarks/cost/dry_run.tsv"
    conda:
        "../envs/zlflow.yaml"
    params:
        warehouse=warehouse_params(),
        sql_dir=SQL_DIR,
        horizons=dict(config["horizons"]),
        built=built_objects(),
        caps=cost_caps(),
    script:
        "../scripts/cost_guard.py"


rule cost_guard:
    """Dry-run every SQL object on BigQuery; fail above the configured byte caps."""
    input:
        rules.dry_run_costs.output,
