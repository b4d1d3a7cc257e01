-- materialize: view
-- description: Active alerts: strong direction signals, realised prices outside the 95% band, a regime change, failed or skipped data-quality assertions, stale data.
WITH cfg AS (
  SELECT
    p_up_high,
    p_up_low,
    band_lookback_sessions,
    stale_after_sessions,
    COALESCE(DATE(as_of_date), CURRENT_DATE()) AS judged_on
  FROM ${market_data}.cfg_alerts
),
zl AS (
  SELECT trade_date, trade_date_index
  FROM ${staging}.futures_daily
  WHERE symbol = 'ZL'
),
latest_bar AS (
  SELECT MAX(trade_date) AS trade_date, MAX(trade_date_index) AS trade_date_index FROM zl
),
direction AS (
  -- A strong p_up is a signal only from a model whose p_up beat climatology's Brier score
  -- on outcomes known at the forecast date; otherwise the alert says it is unskilled.
  SELECT
    IF(f.direction_skilled, 'direction_signal', 'direction_unskilled') AS alert_type,
    'info' AS severity,
    f.as_of_date AS alert_date,
    f.horizon,
    f.model,
    CASE
      WHEN f.direction_skilled THEN FORMAT(
        '%s %s: probability of a rise is %.2f (thresholds %.2f / %.2f; Brier skill %.3f over climatology on earlier outcomes)',
        f.model, f.horizon, f.p_up, c.p_up_low, c.p_up_high, f.direction_skill
      )
      WHEN f.direction_skill IS NULL THEN FORMAT(
        '%s %s: probability of a rise is %.2f, but there are too few earlier outcomes to show Brier skill over climatology: unskilled, not a signal',
        f.model, f.horizon, f.p_up
      )
      ELSE FORMAT(
        '%s %s: probability of a rise is %.2f, but the model showed no Brier skill over climatology on earlier outcomes (%.3f): unskilled, not a signal',
        f.model, f.horizon, f.p_up, f.direction_skill
      )
    END AS message
  FROM ${api}.vw_zl_latest_forecast AS f
  CROSS JOIN cfg AS c
  WHERE f.p_up >= c.p_up_high OR f.p_up <= c.p_up_low
),
band AS (
  SELECT
    'outside_95_band' AS alert_type,
    'warning' AS severity,
    h.target_date AS alert_date,
    h.horizon,
    h.model,
    FORMAT(
      '%s %s forecast from %s: realised %.2f c/lb outside the 95%% band %.2f-%.2f',
      h.model, h.horizon, CAST(h.as_of_date AS STRING), h.realised_price, h.lower_95_price,
      h.upper_95_price
    ) AS message
  FROM ${api}.vw_zl_forecast_history AS h
  CROSS JOIN cfg AS c
  CROSS JOIN latest_bar AS l
  JOIN zl AS target_bar
    ON target_bar.trade_date = h.target_date
  WHERE NOT h.inside_95
    AND l.trade_date_index - target_bar.trade_date_index < c.band_lookback_sessions
),
regimes AS (
  SELECT
    trade_date,
    regime,
    LAG(regime) OVER (ORDER BY trade_date) AS previous_regime
  FROM ${features}.zl_daily_v1
),
regime_change AS (
  SELECT
    'regime_change' AS alert_type,
    'info' AS severity,
    r.trade_date AS alert_date,
    CAST(NULL AS STRING) AS horizon,
    CAST(NULL AS STRING) AS model,
    FORMAT('regime changed from %s to %s', r.previous_regime, r.regime) AS message
  FROM regimes AS r
  CROSS JOIN latest_bar AS l
  WHERE r.trade_date = l.trade_date AND r.regime != r.previous_regime
),
data_quality AS (
  SELECT
    IF(r.assertion IS NULL, 'assertion_skipped', 'assertion_failed') AS alert_type,
    'critical' AS severity,
    COALESCE(DATE(r.checked_at), c.judged_on) AS alert_date,
    CAST(NULL AS STRING) AS horizon,
    CAST(NULL AS STRING) AS model,
    IF(
      r.assertion IS NULL,
      FORMAT('data-quality assertion %s has not run', a.assertion),
      FORMAT('data-quality assertion %s failed with %d offending row(s)', a.assertion,
             r.offending_rows)
    ) AS message
  FROM ${market_data}.cfg_assertions AS a
  CROSS JOIN cfg AS c
  LEFT JOIN ${market_data}.assertion_results AS r
    ON r.assertion = a.assertion
  WHERE r.assertion IS NULL OR r.status != 'passed'
),
stale AS (
  SELECT
    'stale_data' AS alert_type,
    'warning' AS severity,
    c.judged_on AS alert_date,
    CAST(NULL AS STRING) AS horizon,
    CAST(NULL AS STRING) AS model,
    FORMAT(
      'latest ZL bar is %s, %d exchange sessions before %s (limit %d)',
      CAST(l.trade_date AS STRING), cal.trade_date_index - l.trade_date_index,
      CAST(c.judged_on AS STRING), c.stale_after_sessions
    ) AS message
  FROM latest_bar AS l
  CROSS JOIN cfg AS c
  JOIN ${market_data}.cbot_calendar AS cal
    ON cal.calendar_date = c.judged_on
  WHERE cal.trade_date_index - l.trade_date_index > c.stale_after_sessions
)
SELECT * FROM direction
UNION ALL SELECT * FROM band
UNION ALL SELECT * FROM regime_change
UNION ALL SELECT * FROM data_quality
UNION ALL SELECT * FROM stale
