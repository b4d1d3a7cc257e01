-- materialize: view
-- description: Every backtest verdict: each model against the random walk, climatology and the majority direction per metric (mean difference, 95% block-bootstrap interval, Diebold-Mariano statistic and p-value with its Newey-West lag), and each interval's coverage against its nominal level.
SELECT
  horizon,
  model,
  metric,
  label,
  baseline,
  n,
  value,
  baseline_value,
  difference,
  ci_low,
  ci_high,
  statistic,
  p_value,
  hac_lag,
  verdict
FROM ${forecasts}.zl_backtest_verdicts
