-- materialize: table
-- description: Soy complex and cross-market features on ZL trade dates, each market's close taken as of that date.
WITH closes AS (
  SELECT
    trade_date,
    symbol = 'ZL' AS is_spine,
    IF(symbol = 'ZL', session_number, NULL) AS session_number,
    IF(symbol = 'ZL', close, NULL) AS zl_close,
    IF(symbol = 'ZL', adj_log_return, NULL) AS zl_return,
    IF(symbol = 'ZS', close, NULL) AS zs_close,
    IF(symbol = 'ZS', adj_close, NULL) AS zs_adj_close,
    IF(symbol = 'ZM', close, NULL) AS zm_close,
    -- A negative settlement (CL, 2020-04-20) has no log: carry the last positive close.
    IF(symbol = 'CL' AND close > 0, close, NULL) AS cl_close,
    IF(symbol = 'ES', close, NULL) AS es_close,
    IF(symbol = 'ZC', close, NULL) AS zc_close
  FROM ${staging}.futures_daily
),
asof AS (
  -- Other markets sort before ZL on the same date: their closes of that date are known.
  SELECT
    trade_date,
    is_spine,
    session_number,
    zl_close,
    zl_return,
    LAST_VALUE(zs_close IGNORE NULLS) OVER history AS zs_close,
    LAST_VALUE(zs_adj_close IGNORE NULLS) OVER history AS zs_adj_close,
    LAST_VALUE(zm_close IGNORE NULLS) OVER history AS zm_close,
    LAST_VALUE(cl_close IGNORE NULLS) OVER history AS cl_close,
    LAST_VALUE(es_close IGNORE NULLS) OVER history AS es_close,
    LAST_VALUE(zc_close IGNORE NULLS) OVER history AS zc_close
  FROM closes
  WINDOW history AS (ORDER BY trade_date, is_spine ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
spine AS (
  SELECT
    *,
    LN(zs_adj_close) - LN(LAG(zs_adj_close) OVER by_session) AS zs_return,
    LN(cl_close) - LN(LAG(cl_close) OVER by_session) AS cl_return,
    LN(es_close) - LN(LAG(es_close) OVER by_session) AS es_return,
    LN(zc_close) - LN(LAG(zc_close) OVER by_session) AS zc_return
  FROM asof
  WHERE is_spine
  WINDOW by_session AS (ORDER BY session_number)
)
SELECT
  trade_date,
  -- Board crush in $/bu: 11 lb of oil and 44 lb (0.022 short tons) of meal from a bushel.
  0.11 * zl_close + 0.022 * zm_close - zs_close / 100 AS board_crush,
  0.11 * zl_close / (0.11 * zl_close + 0.022 * zm_close) AS oil_share,
  zs_return AS zs_ret_1d,
  cl_return AS cl_ret_1d,
  es_return AS es_ret_1d,
  zc_return AS zc_ret_1d,
  IF(session_number >= 5, SUM(cl_return) OVER last_5, NULL) AS cl_ret_5d,
  IF(session_number >= 5, SUM(es_return) OVER last_5, NULL) AS es_ret_5d,
  IF(session_number >= 63, CORR(zl_return, cl_return) OVER last_63, NULL) AS corr_zl_cl_63,
  IF(session_number >= 63, CORR(zl_return, es_return) OVER last_63, NULL) AS corr_zl_es_63,
  IF(session_number >= 63, CORR(zl_return, zs_return) OVER last_63, NULL) AS corr_zl_zs_63
FROM spine
WINDOW
  last_5 AS (ORDER BY session_number ROWS BETWEEN 4 PRECEDING AND CURRENT ROW),
  last_63 AS (ORDER BY session_number ROWS BETWEEN 62 PRECEDING AND CURRENT ROW)
