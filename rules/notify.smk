# Alert delivery (alerts.delivery): new alerts to a Slack-compatible webhook and/or by
# e-mail, each once; forecasts.zl_alerts_sent records what went out. A failed endpoint
# never fails the run: its alerts stay unsent, and the retry token (a params value)
# changes so that the next run sends them even when nothing upstream changed.

from zlflow.notify import delivery_channels, delivery_secrets, retry_token

NOTIFY_REPORT = f"{RESULTS}/publish/alerts_delivery.json"
# The delivery report joins the default target when a channel is enabled (none by default).
NOTIFY_OUTPUTS = [NOTIFY_REPORT] if delivery_channels(config) else []


# The secrets that are set, passed on to remote jobs (only set ones: a dry-run needs none).
envvars:
    *delivery_secrets(config),


rule notify_alerts:
    input:
        alerts=rules.alerts.output.json,
    output:
        report=NOTIFY_REPORT,
    log:
        f"{RESULTS}/logs/publish/notify_alerts.log",
    benchmark:
        f"{RESULTS}/benchmarks/publish/notify_alerts.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(),
        delivery=dict(config["alerts"].get("delivery", {})),
        retry_token=retry_token(NOTIFY_REPORT),
    script:
        "../scripts/notify.py"
