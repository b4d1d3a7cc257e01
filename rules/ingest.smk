# Live sources (source: live): one job per FRED series, weather location and Databento
# symbol, and one for the synthetic generator. Each fetches only what
# market_data.ingest_log says is missing from its range, MERGEs it into the raw table and
# leaves a JSON marker. The range is a params value: a new end_date (`today` moves daily)
# reruns these jobs; the same range and settings leave them up to date.


include: "inputs/ingest.smk"


rule ingest_fred:
    output:
        marker=f"{RESULTS}/ingest/fred/{{fred_series}}.json",
    log:
        f"{RESULTS}/logs/ingest/fred/{{fred_series}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/fred/{{fred_series}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=INGEST_WAREHOUSE_SLOTS,
    params:
        warehouse=warehouse_params(candidate=True),
        source="fred",
        settings=fred_settings,
        date_range=ingest_range("fred"),
        retry=ingest_retry(),
        raw_dir=f"{RESULTS}/raw/ingest/fred",
    script:
        "../scripts/ingest.py"


rule ingest_weather:
    output:
        marker=f"{RESULTS}/ingest/weather/{{weather_location}}.json",
    log:
        f"{RESULTS}/logs/ingest/weather/{{weather_location}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/weather/{{weather_location}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=INGEST_WAREHOUSE_SLOTS,
    params:
        warehouse=warehouse_params(candidate=True),
        source="weather",
        settings=weather_settings,
        date_range=ingest_range("weather"),
        retry=ingest_retry(),
        raw_dir=f"{RESULTS}/raw/ingest/weather",
    script:
        "../scripts/ingest.py"


rule ingest_databento:
    output:
        marker=f"{RESULTS}/ingest/databento/{{databento_symbol}}.json",
    log:
        f"{RESULTS}/logs/ingest/databento/{{databento_symbol}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/databento/{{databento_symbol}}.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=INGEST_WAREHOUSE_SLOTS,
    params:
        warehouse=warehouse_params(candidate=True),
        source="databento",
        settings=databento_settings,
        date_range=ingest_range("databento"),
        retry=ingest_retry(),
        raw_dir=f"{RESULTS}/raw/ingest/databento",
    script:
        "../scripts/ingest.py"


rule ingest_synthetic:
    output:
        marker=f"{RESULTS}/ingest/synthetic/futures.json",
    log:
        f"{RESULTS}/logs/ingest/synthetic/futures.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/synthetic/futures.tsv"
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=INGEST_WAREHOUSE_SLOTS,
    params:
        warehouse=warehouse_params(candidate=True),
        source="synthetic",
        settings=synthetic_settings(),
        date_range=ingest_range("synthetic"),
        retry=ingest_retry(),
        raw_dir=f"{RESULTS}/raw/ingest/synthetic",
    script:
        "../scripts/ingest.py"


rule ingested_table:
    """A raw table written by live sources (instead of load_raw from the sample)."""
    input:
        ingests=ingested_table_inputs,
    output:
        marker=f"{RESULTS}/warehouse/market_data/{{raw_table}}.json",
    log:
        f"{RESULTS}/logs/ingested_table/{{raw_table}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingested_table/{{raw_table}}.tsv"
    wildcard_constraints:
        raw_table=alternation(LIVE_TABLES),
    conda:
        "../envs/zlflow.yaml"
    resources:
        warehouse=1,
    params:
        warehouse=warehouse_params(candidate=True),
    script:
        "../scripts/ingested_table.py"


rule ingest:
    """Fetch what every selected live source is missing (source: live)."""
    input:
        ingest_markers(),
