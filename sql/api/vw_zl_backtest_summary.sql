-- materialize: view
-- description: Overall out-of-sample metrics per model and baseline, with skill against the random walk (positive = better than it).
WITH overall AS (
  SELECT *
  FROM ${forecasts}.zl_backtest_metrics
  WHERE scope = 'overall'
),
random_walk AS (
  SELECT horizon, pinball_mean, mae, brier, directional_accuracy
  FROM overall
  WHERE model = 'random_walk'
)
SELECT
  o.horizon,
  o.model,
  o.model IN ('random_walk', 'drift', 'climatology') AS is_baseline,
  o.n,
  o.mae,
  o.rmse,
  o.pinball_mean,
  o.coverage_80,
  o.coverage_95,
  o.brier,
  o.log_loss,
  o.directional_accuracy,
  1 - SAFE_DIVIDE(o.pinball_mean, rw.pinball_mean) AS pinball_skill_vs_random_walk,
  1 - SAFE_DIVIDE(o.mae, rw.mae) AS mae_skill_vs_random_walk,
  1 - SAFE_DIVIDE(o.brier, rw.brier) AS brier_skill_vs_random_walk,
  o.directional_accuracy - rw.directional_accuracy AS accuracy_vs_random_walk,
  o.pinball_mean < rw.pinball_mean AS beats_random_walk
FROM overall AS o
LEFT JOIN random_walk AS rw
  ON rw.horizon = o.horizon
