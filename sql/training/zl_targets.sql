-- materialize: table
-- description: Forward roll-adjusted log return and direction per ZL trade date and configured horizon, with a purged train/validation/test split.
WITH zl AS (
  SELECT trade_date, session_number, SUM(adj_log_return) OVER (ORDER BY session_number) AS log_level
  FROM ${staging}.futures_daily
  WHERE symbol = 'ZL'
),
targets AS (
  -- The target is the sum of the next h adjusted daily returns: a roll gap inside the
  -- window is not a market move and adds nothing.
  SELECT
    h.horizon_name,
    h.horizon_days,
    z.trade_date,
    f.trade_date AS target_date,
    f.log_level - z.log_level AS target_log_return
  FROM zl AS z
  CROSS JOIN ${market_data}.cfg_horizons AS h
  LEFT JOIN zl AS f
    ON f.session_number = z.session_number + h.horizon_days
)
SELECT
  t.horizon_name,
  t.horizon_days,
  t.trade_date,
  t.target_date,
  t.target_log_return,
  CAST(t.target_log_return > 0 AS INT64) AS target_up,
  CASE
    WHEN t.target_date IS NULL THEN 'live'
    -- Purge: a row whose target window reaches into the next split would leak it.
    WHEN t.trade_date < cfg.validation_start AND t.target_date < cfg.validation_start THEN 'train'
    WHEN t.trade_date >= cfg.validation_start AND t.trade_date < cfg.test_start
      AND t.target_date < cfg.test_start THEN 'validation'
    WHEN t.trade_date >= cfg.test_start THEN 'test'
    ELSE 'purged'
  END AS split
FROM targets AS t
CROSS JOIN ${market_data}.cfg_settings AS cfg
