# Input functions and params lookups of the rules in rules/ingest.smk (ingestion).


def ingest_range(source):
    """The inclusive range a source's jobs cover this run (a params value)."""
    return live.date_range(config, source, TODAY)


def ingest_retry():
    return dict(config["sources"]["retry"])


def fred_settings(wildcards):
    fred = config["sources"]["fred"]
    return {
        "series": wildcards.fred_series,
        "release_lag_days": config["release_lags"][wildcards.fred_series],
        "lookback_days": fred["lookback_days"],
        "base_url": fred["base_url"],
    }


def weather_settings(wildcards):
    weather = config["sources"]["weather"]
    return {
        "location": live.weather_locations(config)[wildcards.weather_location],
        "lookback_days": weather["lookback_days"],
        "base_url": weather["base_url"],
    }


def databento_settings(wildcards):
    databento = config["sources"]["databento"]
    return {
        "symbol": wildcards.databento_symbol,
        "continuous": live.databento_symbols(config)[wildcards.databento_symbol],
        "dataset": databento["dataset"],
        "max_cost_usd": databento["max_cost_usd"],
        "gateway": databento["gateway"],
        "lookback_days": databento["lookback_days"],
    }


def synthetic_settings():
    synthetic = config["sources"]["synthetic"]
    return {
        "symbols": synthetic["symbols"],
        "years": synthetic["years"],
        "seed": synthetic["seed"],
        "start": config["sources"]["start_date"],
    }


def ingested_table_inputs(wildcards):
    return ingest_markers(wildcards.raw_table)


def ingest_markers(table=None):
    """Markers of the selected live sources' ingest jobs (of those writing ``table``)."""
    return [
        f"{RESULTS}/ingest/{source}/{unit}.json"
        for source in LIVE_SOURCES
        if table in (None, live.SOURCE_TABLES[source])
        for unit in INGEST_UNITS[source]
    ]
