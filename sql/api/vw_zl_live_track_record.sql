-- materialize: view
-- description: The live track record per horizon and model: live forecasts only (never backtest rows), scored once their targets mature (coverage of the 80% and 95% bands, mean pinball loss over the 2.5/10/50/90/97.5% quantiles, absolute error of the median, Brier score of p_up), beside the random walk known on the same dates (median 0, spread of the outcomes matured by then, p_up 0.5) scored on the same outcomes; how many forecasts have matured and how many are pending.
WITH live AS (
  -- One live forecast per date, horizon and model: the latest model version, as the
  -- latest-forecast view picks it.
  SELECT *
  FROM ${forecasts}.zl_forecasts_daily
  WHERE kind = 'live'
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY as_of_date, horizon, model ORDER BY model_version DESC
  ) = 1
),
issued AS (
  SELECT DISTINCT as_of_date, horizon FROM live
),
known AS (
  -- The outcomes a forecaster knew on each live date: targets matured by then, of the
  -- training rows (warm-up left out), the rows the live random walk is set from.
  SELECT
    i.as_of_date,
    i.horizon,
    PERCENTILE_CONT(t.target_log_return, 0.025) OVER (PARTITION BY i.as_of_date, i.horizon)
      AS p2_5,
    PERCENTILE_CONT(t.target_log_return, 0.1) OVER (PARTITION BY i.as_of_date, i.horizon)
      AS p10,
    PERCENTILE_CONT(t.target_log_return, 0.5) OVER (PARTITION BY i.as_of_date, i.horizon)
      AS p50,
    PERCENTILE_CONT(t.target_log_return, 0.9) OVER (PARTITION BY i.as_of_date, i.horizon)
      AS p90,
    PERCENTILE_CONT(t.target_log_return, 0.975) OVER (PARTITION BY i.as_of_date, i.horizon)
      AS p97_5
  FROM issued AS i
  JOIN ${training}.zl_targets AS t
    ON t.horizon_name = i.horizon AND t.target_date <= i.as_of_date
  JOIN ${features}.zl_daily_v1 AS feat
    ON feat.trade_date = t.trade_date
  WHERE NOT feat.is_warmup AND t.target_log_return IS NOT NULL
),
random_walk AS (
  -- Median 0 with the empirical spread of the known outcomes; p_up 0.5 (a coin).
  SELECT DISTINCT
    as_of_date,
    horizon,
    p2_5 - p50 AS q2_5,
    p10 - p50 AS q10,
    p90 - p50 AS q90,
    p97_5 - p50 AS q97_5
  FROM known
),
outcomes AS (
  SELECT
    l.horizon,
    l.model,
    l.as_of_date,
    t.target_date AS realised_date,
    -- Matured: the target session has traded. Pending rows are counted, never scored.
    t.target_log_return IS NOT NULL AND r.q2_5 IS NOT NULL AS matured,
    t.target_log_return AS y,
    l.q2_5,
    l.q10,
    l.q50,
    l.q90,
    l.q97_5,
    l.p_up,
    r.q2_5 AS rw_q2_5,
    r.q10 AS rw_q10,
    r.q90 AS rw_q90,
    r.q97_5 AS rw_q97_5
  FROM live AS l
  LEFT JOIN ${training}.zl_targets AS t
    ON t.trade_date = l.as_of_date AND t.horizon_name = l.horizon
  LEFT JOIN random_walk AS r
    ON r.as_of_date = l.as_of_date AND r.horizon = l.horizon
),
forecasters AS (
  -- Each live forecast and the random walk of its date, side by side on the same outcome.
  SELECT
    horizon, model, as_of_date, realised_date, matured, y, 'model' AS forecaster,
    q2_5, q10, q50, q90, q97_5, p_up
  FROM outcomes
  UNION ALL
  SELECT
    horizon, model, as_of_date, realised_date, matured, y, 'random_walk' AS forecaster,
    rw_q2_5, rw_q10, 0.0, rw_q90, rw_q97_5, 0.5
  FROM outcomes
),
scored AS (
  SELECT
    horizon,
    model,
    forecaster,
    as_of_date,
    matured,
    IF(matured, realised_date, NULL) AS realised_date,
    IF(matured, IF(y BETWEEN q10 AND q90, 1.0, 0.0), NULL) AS inside_80,
    IF(matured, IF(y BETWEEN q2_5 AND q97_5, 1.0, 0.0), NULL) AS inside_95,
    IF(
      matured,
      (
        GREATEST(0.025 * (y - q2_5), -0.975 * (y - q2_5))
        + GREATEST(0.1 * (y - q10), -0.9 * (y - q10))
        + GREATEST(0.5 * (y - q50), -0.5 * (y - q50))
        + GREATEST(0.9 * (y - q90), -0.1 * (y - q90))
        + GREATEST(0.975 * (y - q97_5), -0.025 * (y - q97_5))
      ) / 5,
      NULL
    ) AS pinball,
    IF(matured, ABS(y - q50), NULL) AS abs_error,
    IF(matured, POW(p_up - IF(y > 0, 1.0, 0.0), 2), NULL) AS brier
  FROM forecasters
),
paired AS (
  SELECT
    *,
    MAX(IF(forecaster = 'random_walk', pinball, NULL)) OVER (
      PARTITION BY horizon, model, as_of_date
    ) AS random_walk_pinball
  FROM scored
),
totals AS (
  SELECT
    horizon,
    model,
    forecaster,
    COUNT(*) AS n_live,
    CAST(COUNTIF(matured) AS INT64) AS n_matured,
    CAST(COUNTIF(NOT matured) AS INT64) AS n_pending,
    MIN(as_of_date) AS first_as_of_date,
    MAX(as_of_date) AS last_as_of_date,
    MAX(IF(matured, as_of_date, NULL)) AS last_matured_as_of_date,
    MAX(realised_date) AS last_realised_date,
    AVG(inside_80) AS coverage_80,
    AVG(inside_95) AS coverage_95,
    AVG(pinball) AS pinball_mean,
    AVG(abs_error) AS mae,
    AVG(brier) AS brier,
    AVG(IF(matured, IF(pinball < random_walk_pinball, 1.0, 0.0), NULL)) AS share_beating
  FROM paired
  GROUP BY horizon, model, forecaster
)
SELECT
  m.horizon,
  m.model,
  m.n_live,
  m.n_matured,
  m.n_pending,
  m.first_as_of_date,
  m.last_as_of_date,
  m.last_matured_as_of_date,
  m.last_realised_date,
  m.coverage_80,
  m.coverage_95,
  m.pinball_mean,
  m.mae,
  m.brier,
  rw.coverage_80 AS random_walk_coverage_80,
  rw.coverage_95 AS random_walk_coverage_95,
  rw.pinball_mean AS random_walk_pinball_mean,
  rw.mae AS random_walk_mae,
  rw.brier AS random_walk_brier,
  1 - SAFE_DIVIDE(m.pinball_mean, rw.pinball_mean) AS pinball_skill,
  1 - SAFE_DIVIDE(m.brier, rw.brier) AS brier_skill,
  m.share_beating AS share_beating_random_walk
FROM totals AS m
JOIN totals AS rw
  ON rw.horizon = m.horizon AND rw.model = m.model AND rw.forecaster = 'random_walk'
WHERE m.forecaster = 'model'
