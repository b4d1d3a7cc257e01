-- materialize: table
-- description: Each released series as known at the close of every ZL trade date (latest value with available_date <= trade_date).
WITH spine AS (
  SELECT trade_date, session_number
  FROM ${staging}.futures_daily
  WHERE symbol = 'ZL'
),
releases AS (
  SELECT
    available_date AS event_date,
    FALSE AS is_spine,
    NULL AS session_number,
    MAX(IF(series_id = 'DGS10', value, NULL)) AS dgs10,
    MAX(IF(series_id = 'DGS2', value, NULL)) AS dgs2,
    MAX(IF(series_id = 'T10YIE', value, NULL)) AS t10yie,
    MAX(IF(series_id = 'DTWEXBGS', value, NULL)) AS usd_broad,
    MAX(IF(series_id = 'DCOILWTICO', value, NULL)) AS wti_spot,
    MAX(IF(series_id = 'DCOILBRENTEU', value, NULL)) AS brent_spot,
    MAX(IF(series_id = 'DEXBZUS', value, NULL)) AS brl_usd,
    MAX(IF(series_id = 'FEDFUNDS', value, NULL)) AS fed_funds,
    MAX(IF(series_id = 'CPI_YOY', value, NULL)) AS cpi_yoy,
    MAX(IF(series_id = 'COT_ZL', value, NULL)) AS cot_zl_net_pct,
    MAX(IF(series_id = 'COT_ZL_CHG', value, NULL)) AS cot_zl_net_chg,
    MAX(IF(series_id = 'WX_TMAX_ANOM_7D', value, NULL)) AS wx_tmax_anom_7d,
    MAX(IF(series_id = 'WX_PRCP_ANOM_30D', value, NULL)) AS wx_prcp_anom_30d
  FROM ${features}.released_series
  GROUP BY available_date
),
events AS (
  SELECT * FROM releases
  UNION ALL
  SELECT
    trade_date, TRUE, session_number,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM spine
),
asof AS (
  -- Releases sort before the spine row of the same date: public that day, usable that day.
  SELECT
    event_date AS trade_date,
    is_spine,
    session_number,
    LAST_VALUE(dgs10 IGNORE NULLS) OVER history AS dgs10,
    LAST_VALUE(dgs2 IGNORE NULLS) OVER history AS dgs2,
    LAST_VALUE(t10yie IGNORE NULLS) OVER history AS t10yie,
    LAST_VALUE(usd_broad IGNORE NULLS) OVER history AS usd_broad,
    LAST_VALUE(wti_spot IGNORE NULLS) OVER history AS wti_spot,
    LAST_VALUE(brent_spot IGNORE NULLS) OVER history AS brent_spot,
    LAST_VALUE(brl_usd IGNORE NULLS) OVER history AS brl_usd,
    LAST_VALUE(fed_funds IGNORE NULLS) OVER history AS fed_funds,
    LAST_VALUE(cpi_yoy IGNORE NULLS) OVER history AS cpi_yoy,
    LAST_VALUE(cot_zl_net_pct IGNORE NULLS) OVER history AS cot_zl_net_pct,
    LAST_VALUE(cot_zl_net_chg IGNORE NULLS) OVER history AS cot_zl_net_chg,
    LAST_VALUE(wx_tmax_anom_7d IGNORE NULLS) OVER history AS wx_tmax_anom_7d,
    LAST_VALUE(wx_prcp_anom_30d IGNORE NULLS) OVER history AS wx_prcp_anom_30d
  FROM events
  WINDOW history AS (ORDER BY event_date, is_spine ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT
  trade_date,
  dgs10,
  dgs2,
  dgs10 - dgs2 AS term_spread,
  t10yie,
  fed_funds,
  cpi_yoy,
  LN(usd_broad) - LN(LAG(usd_broad, 21) OVER by_session) AS usd_broad_chg_21,
  brent_spot - wti_spot AS brent_wti_spread,
  LN(brl_usd) - LN(LAG(brl_usd, 21) OVER by_session) AS brl_usd_chg_21,
  cot_zl_net_pct,
  cot_zl_net_chg,
  wx_tmax_anom_7d,
  wx_prcp_anom_30d
FROM asof
WHERE is_spine
WINDOW by_session AS (ORDER BY session_number)
