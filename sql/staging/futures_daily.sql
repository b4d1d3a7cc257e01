-- materialize: table
-- partition_by: DATE_TRUNC(trade_date, MONTH)
-- cluster_by: symbol
-- description: One row per (symbol, trade_date): bars mapped to CME trade dates, split sessions merged, roll gaps removed from adjusted returns.
WITH labelled AS (
  -- TradingView labels a bar with its session's open in Sao Paulo local time (UTC-3/-2):
  -- the 19:00 CT evening open shows as 21:00/22:00 of the day before. Six hours later is
  -- always inside the trade date (or a closed day before it), so the session is the first
  -- exchange trading day on or after that date. Yahoo bars are already trade dates.
  SELECT
    r.symbol,
    r.source,
    r.bar_label,
    r.open,
    r.high,
    r.low,
    r.close,
    r.volume,
    CASE r.label_kind
      WHEN 'trade_date' THEN DATE(r.bar_label)
      WHEN 'session_open_sao_paulo' THEN DATE(DATETIME_ADD(r.bar_label, INTERVAL 6 HOUR))
    END AS label_date
  FROM ${market_data}.raw_futures_daily AS r
),
sessions AS (
  SELECT
    l.*,
    c.next_trade_date AS trade_date,
    c.trade_date_index
  FROM labelled AS l
  JOIN ${market_data}.cbot_calendar AS c
    ON c.calendar_date = l.label_date
),
merged AS (
  -- A holiday can split one trade date's electronic session into two bars: merge them.
  SELECT
    symbol,
    source,
    trade_date,
    trade_date_index,
    FIRST_VALUE(open) OVER session_bars AS open,
    MAX(high) OVER session_bars AS high,
    MIN(low) OVER session_bars AS low,
    LAST_VALUE(close) OVER session_bars AS close,
    SUM(volume) OVER session_bars AS volume,
    COUNT(*) OVER session_bars AS n_bars
  FROM sessions
  -- BigQuery takes QUALIFY only with a WHERE, GROUP BY or HAVING, and WINDOW after it.
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY symbol, trade_date ORDER BY bar_label) = 1
  WINDOW session_bars AS (
    PARTITION BY symbol, trade_date ORDER BY bar_label
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  )
),
returns AS (
  SELECT
    m.*,
    EXISTS (
      SELECT 1 FROM ${market_data}.roll_calendar AS k
      WHERE k.symbol = m.symbol AND k.roll_date = m.trade_date
    ) AS is_roll_day,
    CASE
      WHEN m.close > 0 AND LAG(m.close) OVER by_date > 0
        THEN LN(m.close) - LN(LAG(m.close) OVER by_date)
    END AS log_return
  FROM merged AS m
  WINDOW by_date AS (PARTITION BY m.symbol ORDER BY m.trade_date)
),
adjusted AS (
  -- On a roll day the close-to-close change mixes two contracts: the adjusted return is 0
  -- and the gap goes into the adjustment factor. Anchored at the first bar, so the factor
  -- at t uses only rolls up to t (a forward ratio adjustment, no look-ahead).
  SELECT
    r.*,
    IF(r.is_roll_day, 0.0, COALESCE(r.log_return, 0.0)) AS adj_log_return,
    SUM(IF(r.is_roll_day, 0.0, COALESCE(r.log_return, 0.0))) OVER cumulative AS adj_log_level,
    SUM(IF(r.is_roll_day, COALESCE(r.log_return, 0.0), 0.0)) OVER cumulative AS roll_gap_log
  FROM returns AS r
  WINDOW cumulative AS (PARTITION BY r.symbol ORDER BY r.trade_date ROWS UNBOUNDED PRECEDING)
)
SELECT
  symbol,
  trade_date,
  trade_date_index,
  source,
  open,
  -- The widen_range repair: the load gate (sources/validate.py) lets a bar's open or close
  -- outside its high/low through only for sources that need it (Yahoo's settlement is not
  -- bounded by its electronic high/low; user files that opt in), so this changes no other bar.
  GREATEST(high, open, close) AS high,
  LEAST(low, open, close) AS low,
  close,
  volume,
  n_bars,
  high < GREATEST(open, close) OR low > LEAST(open, close) AS range_widened,
  is_roll_day,
  log_return,
  adj_log_return,
  EXP(-roll_gap_log) AS adj_factor,
  close * EXP(-roll_gap_log) AS adj_close,
  GREATEST(high, open, close) * EXP(-roll_gap_log) AS adj_high,
  LEAST(low, open, close) * EXP(-roll_gap_log) AS adj_low,
  ROW_NUMBER() OVER (PARTITION BY symbol ORDER BY trade_date) - 1 AS session_number
FROM adjusted
