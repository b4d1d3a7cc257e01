# zlflow: forecast CBOT soybean oil futures (ZL).
# The warehouse stores and computes (sql/), files tie the steps together, and the local
# machine learns. Build up to any stage with `snakemake <target>`; see README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


# API keys of the selected live sources, passed on to jobs when set (see live_api_keys).
envvars:
    *live_api_keys(),


include: "rules/ingest.smk"
include: "rules/warehouse.smk"
include: "rules/cost.smk"
include: "rules/export.smk"
include: "rules/models.smk"
include: "rules/forecast.smk"
include: "rules/publish.smk"
include: "rules/notify.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
        NOTIFY_OUTPUTS,
