-- materialize: table
-- description: FRED and CFTC observations with the date each became public (observation date + configured release lag).
SELECT
  f.series_id,
  DATE(f.obs_date) AS obs_date,
  DATE_ADD(DATE(f.obs_date), INTERVAL lag.lag_days DAY) AS available_date,
  f.value
FROM ${market_data}.raw_fred AS f
JOIN ${market_data}.cfg_release_lags AS lag
  ON lag.series_id = f.series_id
WHERE f.value IS NOT NULL
UNION ALL
SELECT
  CONCAT('COT_', c.symbol) AS series_id,
  DATE(c.report_date) AS obs_date,
  DATE_ADD(DATE(c.report_date), INTERVAL lag.lag_days DAY) AS available_date,
  c.noncomm_net_pct AS value
FROM ${market_data}.raw_cot AS c
JOIN ${market_data}.cfg_release_lags AS lag
  ON lag.series_id = 'COT'
WHERE c.noncomm_net_pct IS NOT NULL
