-- materialize: table
-- description: Station-day weather with anomalies against a day-of-year climatology built only from earlier years.
WITH daily AS (
  SELECT
    station_id,
    region,
    DATE(obs_date) AS obs_date,
    EXTRACT(YEAR FROM DATE(obs_date)) AS obs_year,
    EXTRACT(DAYOFYEAR FROM DATE(obs_date)) AS doy,
    tmax_c,
    prcp_mm
  FROM ${market_data}.raw_weather
  WHERE tmax_c IS NOT NULL OR prcp_mm IS NOT NULL
),
seasonal AS (
  -- Sums over a +/-7 day window of the same year, so each year adds 15 days per day of year.
  SELECT
    d.*,
    SUM(tmax_c) OVER doy_window AS tmax_sum,
    COUNT(tmax_c) OVER doy_window AS tmax_n,
    SUM(prcp_mm) OVER doy_window AS prcp_sum,
    COUNT(prcp_mm) OVER doy_window AS prcp_n
  FROM daily AS d
  WINDOW doy_window AS (
    PARTITION BY station_id, obs_year ORDER BY doy RANGE BETWEEN 7 PRECEDING AND 7 FOLLOWING
  )
),
climatology AS (
  -- Only years before the observation's year: the anomaly at t never uses data after t.
  SELECT
    s.*,
    SUM(tmax_sum) OVER earlier_years AS clim_tmax_sum,
    SUM(tmax_n) OVER earlier_years AS clim_tmax_n,
    SUM(prcp_sum) OVER earlier_years AS clim_prcp_sum,
    SUM(prcp_n) OVER earlier_years AS clim_prcp_n,
    COUNT(*) OVER earlier_years AS clim_years
  FROM seasonal AS s
  WINDOW earlier_years AS (
    PARTITION BY station_id, doy ORDER BY obs_year ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
  )
)
SELECT
  c.station_id,
  c.region,
  c.obs_date,
  DATE_ADD(c.obs_date, INTERVAL lag.lag_days DAY) AS available_date,
  c.tmax_c,
  c.prcp_mm,
  c.clim_years,
  IF(c.clim_years >= s.climatology_min_years AND c.tmax_c IS NOT NULL,
     c.tmax_c - SAFE_DIVIDE(c.clim_tmax_sum, c.clim_tmax_n), NULL) AS tmax_anomaly_c,
  IF(c.clim_years >= s.climatology_min_years AND c.prcp_mm IS NOT NULL,
     c.prcp_mm - SAFE_DIVIDE(c.clim_prcp_sum, c.clim_prcp_n), NULL) AS prcp_anomaly_mm
FROM climatology AS c
CROSS JOIN ${market_data}.cfg_settings AS s
JOIN ${market_data}.cfg_release_lags AS lag
  ON lag.series_id = 'WEATHER'
