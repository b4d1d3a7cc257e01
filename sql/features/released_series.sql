-- materialize: view
-- description: Macro, positioning and weather series in long form, keyed by the date each value became public.
WITH macro AS (
  SELECT series_id, obs_date, available_date, value FROM ${staging}.macro_releases
),
derived AS (
  -- Year-over-year CPI and the weekly change in speculative positioning, computed on the
  -- release series itself so they are public on the same day as the value they use.
  SELECT
    'CPI_YOY' AS series_id,
    available_date,
    value / LAG(value, 12) OVER (ORDER BY obs_date) - 1 AS value
  FROM macro
  WHERE series_id = 'CPIAUCSL'
  UNION ALL
  SELECT
    'COT_ZL_CHG',
    available_date,
    value - LAG(value) OVER (ORDER BY obs_date)
  FROM macro
  WHERE series_id = 'COT_ZL'
),
weather_composite AS (
  -- Corn Belt composite: mean anomaly over the stations reporting that day (Iowa and
  -- Illinois to 2014, Milwaukee throughout), each against its own climatology.
  SELECT
    obs_date,
    available_date,
    AVG(tmax_anomaly_c) AS tmax_anomaly_c,
    AVG(prcp_anomaly_mm) AS prcp_anomaly_mm
  FROM ${staging}.weather_daily
  GROUP BY obs_date, available_date
),
weather AS (
  SELECT
    available_date,
    AVG(tmax_anomaly_c) OVER (ORDER BY UNIX_DATE(obs_date) RANGE BETWEEN 6 PRECEDING AND CURRENT ROW)
      AS tmax_anomaly_7d,
    SUM(prcp_anomaly_mm) OVER (ORDER BY UNIX_DATE(obs_date) RANGE BETWEEN 29 PRECEDING AND CURRENT ROW)
      AS prcp_anomaly_30d
  FROM weather_composite
)
SELECT series_id, available_date, value FROM macro
UNION ALL
SELECT series_id, available_date, value FROM derived WHERE value IS NOT NULL
UNION ALL
SELECT 'WX_TMAX_ANOM_7D', available_date, tmax_anomaly_7d FROM weather WHERE tmax_anomaly_7d IS NOT NULL
UNION ALL
SELECT 'WX_PRCP_ANOM_30D', available_date, prcp_anomaly_30d FROM weather WHERE prcp_anomaly_30d IS NOT NULL
