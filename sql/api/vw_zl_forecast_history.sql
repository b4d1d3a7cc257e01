-- materialize: view
-- description: Every published forecast with its realised outcome once known: realised log return and price, and whether they fell inside the 80% and 95% bands.
SELECT
  f.as_of_date,
  f.target_date,
  f.horizon,
  f.model,
  f.model_version,
  f.kind,
  f.fold,
  f.close,
  f.q50 AS median_log_return,
  f.q10 AS lower_80_log_return,
  f.q90 AS upper_80_log_return,
  f.q2_5 AS lower_95_log_return,
  f.q97_5 AS upper_95_log_return,
  f.price_q50 AS median_price,
  f.price_q2_5 AS lower_95_price,
  f.price_q97_5 AS upper_95_price,
  f.p_up,
  t.target_log_return AS realised_log_return,
  realised.close AS realised_price,
  t.target_log_return BETWEEN f.q10 AND f.q90 AS inside_80,
  t.target_log_return BETWEEN f.q2_5 AND f.q97_5 AS inside_95,
  (t.target_log_return > 0) = (f.p_up > 0.5) AS direction_correct
FROM ${forecasts}.zl_forecasts_daily AS f
LEFT JOIN ${training}.zl_targets AS t
  ON t.trade_date = f.as_of_date AND t.horizon_name = f.horizon
LEFT JOIN ${staging}.futures_daily AS realised
  ON realised.symbol = 'ZL' AND realised.trade_date = t.target_date
