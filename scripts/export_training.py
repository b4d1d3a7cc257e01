"""Snakemake adapter: export one horizon's training view to Parquet with a sidecar."""

from zlflow.jobs import main
from zlflow.jobs.export import run_export

main(
    snakemake.log[0],
    run_export,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    view=snakemake.params.view,
    parquet=snakemake.output.parquet,
    sidecar=snakemake.output.sidecar,
    compression=snakemake.params.compression,
)
