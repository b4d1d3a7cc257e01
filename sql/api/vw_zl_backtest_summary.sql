-- materialize: view
-- description: Overall out-of-sample scores per horizon and model, each with its own verdict and Diebold-Mariano p-value (beats/loses only with p < 0.05): CRPS, MAE and interval scores against the random walk, Brier against climatology and against a coin (the random walk's 0.5), accuracy against always calling the majority direction; coverage beside its nominal level with a 95% block-bootstrap interval.
WITH overall AS (
  SELECT *
  FROM ${forecasts}.zl_backtest_metrics
  WHERE scope = 'overall'
),
verdicts AS (
  SELECT
    horizon,
    model,
    MAX(IF(metric = 'crps' AND baseline = 'random_walk', verdict, NULL)) AS crps_vs_random_walk,
    MAX(IF(metric = 'crps' AND baseline = 'random_walk', p_value, NULL))
      AS crps_p_value_vs_random_walk,
    MAX(IF(metric = 'abs_error' AND baseline = 'random_walk', verdict, NULL))
      AS mae_vs_random_walk,
    MAX(IF(metric = 'abs_error' AND baseline = 'random_walk', p_value, NULL))
      AS mae_p_value_vs_random_walk,
    MAX(IF(metric = 'interval_score_80' AND baseline = 'random_walk', verdict, NULL))
      AS interval_score_80_vs_random_walk,
    MAX(IF(metric = 'interval_score_80' AND baseline = 'random_walk', p_value, NULL))
      AS interval_score_80_p_value_vs_random_walk,
    MAX(IF(metric = 'interval_score_95' AND baseline = 'random_walk', verdict, NULL))
      AS interval_score_95_vs_random_walk,
    MAX(IF(metric = 'interval_score_95' AND baseline = 'random_walk', p_value, NULL))
      AS interval_score_95_p_value_vs_random_walk,
    MAX(IF(metric = 'brier' AND baseline = 'climatology', verdict, NULL))
      AS brier_vs_climatology,
    MAX(IF(metric = 'brier' AND baseline = 'climatology', p_value, NULL))
      AS brier_p_value_vs_climatology,
    MAX(IF(metric = 'brier' AND baseline = 'random_walk', verdict, NULL)) AS brier_vs_coin,
    MAX(IF(metric = 'brier' AND baseline = 'random_walk', p_value, NULL))
      AS brier_p_value_vs_coin,
    MAX(IF(metric = 'directional_accuracy' AND baseline = 'majority direction', verdict, NULL))
      AS accuracy_vs_majority,
    MAX(IF(metric = 'directional_accuracy' AND baseline = 'majority direction', p_value, NULL))
      AS accuracy_p_value_vs_majority,
    MAX(IF(metric = 'coverage_80', ci_low, NULL)) AS coverage_80_low,
    MAX(IF(metric = 'coverage_80', ci_high, NULL)) AS coverage_80_high,
    MAX(IF(metric = 'coverage_80', verdict, NULL)) AS coverage_80_verdict,
    MAX(IF(metric = 'coverage_95', ci_low, NULL)) AS coverage_95_low,
    MAX(IF(metric = 'coverage_95', ci_high, NULL)) AS coverage_95_high,
    MAX(IF(metric = 'coverage_95', verdict, NULL)) AS coverage_95_verdict
  FROM ${forecasts}.zl_backtest_verdicts
  GROUP BY horizon, model
)
SELECT
  o.horizon,
  o.model,
  o.model IN ('random_walk', 'drift', 'climatology', 'garch') AS is_baseline,
  o.model = 'ensemble' AS is_ensemble,
  o.n,
  o.crps,
  o.mae,
  o.rmse,
  o.pinball_mean,
  o.interval_score_80,
  o.interval_score_95,
  o.coverage_80,
  CAST(0.8 AS FLOAT64) AS coverage_80_nominal,
  o.coverage_95,
  CAST(0.95 AS FLOAT64) AS coverage_95_nominal,
  o.brier,
  o.brier_reliability,
  o.brier_resolution,
  o.log_loss,
  o.directional_accuracy,
  v.* EXCEPT (horizon, model)
FROM overall AS o
LEFT JOIN verdicts AS v
  ON v.horizon = o.horizon AND v.model = o.model
