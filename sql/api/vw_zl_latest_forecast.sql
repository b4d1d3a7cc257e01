-- materialize: view
-- description: The latest live forecast per horizon and model (the ensemble is the headline): median, 80% and 95% bands in log return and cents/lb, direction probability and its Brier skill over climatology on outcomes known at the forecast date (a direction is a signal only when that skill is positive).
SELECT
  f.as_of_date,
  f.target_date,
  f.horizon,
  f.horizon_days,
  f.model,
  f.model_version,
  f.close,
  f.q50 AS median_log_return,
  f.q10 AS lower_80_log_return,
  f.q90 AS upper_80_log_return,
  f.q2_5 AS lower_95_log_return,
  f.q97_5 AS upper_95_log_return,
  f.price_q50 AS median_price,
  f.price_q10 AS lower_80_price,
  f.price_q90 AS upper_80_price,
  f.price_q2_5 AS lower_95_price,
  f.price_q97_5 AS upper_95_price,
  f.p_up,
  f.direction_skill,
  COALESCE(f.direction_skill > 0, FALSE) AS direction_skilled
FROM ${forecasts}.zl_forecasts_daily AS f
WHERE f.kind = 'live'
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY f.horizon, f.model ORDER BY f.as_of_date DESC, f.model_version DESC
) = 1
