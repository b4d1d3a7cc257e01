-- description: Row counts agree across layers: raw ZL bars = staged sessions + merged fragments; staging = features; features past warm-up = training rows per horizon.
WITH counts AS (
  SELECT 'raw ZL bars' AS layer, COUNT(*) AS n FROM ${market_data}.raw_futures_daily WHERE symbol = 'ZL'
  UNION ALL SELECT 'staged ZL bars', SUM(n_bars) FROM ${staging}.futures_daily WHERE symbol = 'ZL'
  UNION ALL SELECT 'staged ZL sessions', COUNT(*) FROM ${staging}.futures_daily WHERE symbol = 'ZL'
  UNION ALL SELECT 'feature rows', COUNT(*) FROM ${features}.zl_daily_v1
  UNION ALL SELECT 'feature rows past warm-up', COUNTIF(NOT is_warmup) FROM ${features}.zl_daily_v1
),
horizons AS (
  SELECT t.horizon_name, COUNT(*) AS n
  FROM ${training}.zl_targets AS t
  JOIN ${features}.zl_daily_v1 AS f
    ON f.trade_date = t.trade_date AND NOT f.is_warmup
  GROUP BY t.horizon_name
),
checks AS (
  SELECT 'raw ZL bars vs staged ZL bars' AS check_name,
    (SELECT n FROM counts WHERE layer = 'raw ZL bars') AS expected,
    (SELECT n FROM counts WHERE layer = 'staged ZL bars') AS actual
  UNION ALL
  SELECT 'staged ZL sessions vs feature rows',
    (SELECT n FROM counts WHERE layer = 'staged ZL sessions'),
    (SELECT n FROM counts WHERE layer = 'feature rows')
  UNION ALL
  SELECT CONCAT('feature rows past warm-up vs training rows for ', h.horizon_name),
    (SELECT n FROM counts WHERE layer = 'feature rows past warm-up'),
    h.n
  FROM horizons AS h
  UNION ALL
  SELECT CONCAT('configured horizon without targets: ', c.horizon_name), 1, 0
  FROM ${market_data}.cfg_horizons AS c
  LEFT JOIN horizons AS h
    ON h.horizon_name = c.horizon_name
  WHERE h.horizon_name IS NULL
)
SELECT check_name, expected, actual
FROM checks
WHERE expected IS DISTINCT FROM actual
