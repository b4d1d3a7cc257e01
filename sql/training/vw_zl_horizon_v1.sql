-- materialize: view
-- description: Export-ready training rows for one horizon: features known at trade_date, target after it, split label; warm-up rows left out.
SELECT
  f.*,
  t.horizon_name AS horizon,
  t.horizon_days,
  t.target_date,
  t.target_log_return,
  t.target_up,
  t.split
FROM ${features}.zl_daily_v1 AS f
JOIN ${training}.zl_targets AS t
  ON t.trade_date = f.trade_date AND t.horizon_name = '${horizon}'
WHERE NOT f.is_warmup
