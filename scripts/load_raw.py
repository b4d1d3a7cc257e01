"""Snakemake adapter: load one raw table from the bundled sample and the user's files.

The shrink guard's settings and the exchange calendars of the gap check come from the
config, not params: they decide whether a load may run, not what it loads, so changing
them must not rerun loads that passed.
"""

from zlflow.jobs import main
from zlflow.jobs.load import run_load_raw

main(
    snakemake.log[0],
    run_load_raw,
    rule=snakemake.rule,
    warehouse=snakemake.params.warehouse,
    table=snakemake.wildcards.raw_table,
    sample_dir=snakemake.params.sample_dir,
    snapshot=snakemake.output.snapshot,
    marker=snakemake.output.marker,
    files=snakemake.params.files,
    shrink={
        "max_drop_share": snakemake.config["shrink_guard"]["max_drop_share"],
        "allow": snakemake.config["allow_shrink"],
    },
    calendar=snakemake.config["calendar"],
)
