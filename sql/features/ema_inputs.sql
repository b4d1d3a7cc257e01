-- materialize: view
-- description: Every series that needs an exponential moving average, in long form (symbol, series, alpha, n, x).
WITH px AS (
  SELECT
    symbol,
    trade_date,
    adj_close,
    adj_high,
    adj_low,
    adj_close - LAG(adj_close) OVER by_date AS change,
    LAG(adj_close) OVER by_date AS prev_close
  FROM ${staging}.futures_daily
  WINDOW by_date AS (PARTITION BY symbol ORDER BY trade_date)
),
series AS (
  -- Span-n EMAs use alpha = 2 / (n + 1); Wilder's smoothing (RSI, ATR) uses alpha = 1 / n.
  SELECT symbol, trade_date, 'close_9' AS series, 2 / 10 AS alpha, adj_close AS x FROM px
  UNION ALL SELECT symbol, trade_date, 'close_10', 2 / 11, adj_close FROM px
  UNION ALL SELECT symbol, trade_date, 'close_12', 2 / 13, adj_close FROM px
  UNION ALL SELECT symbol, trade_date, 'close_20', 2 / 21, adj_close FROM px
  UNION ALL SELECT symbol, trade_date, 'close_26', 2 / 27, adj_close FROM px
  UNION ALL SELECT symbol, trade_date, 'close_50', 2 / 51, adj_close FROM px
  UNION ALL SELECT symbol, trade_date, 'close_200', 2 / 201, adj_close FROM px
  UNION ALL SELECT symbol, trade_date, 'gain_14', 1 / 14, GREATEST(change, 0) FROM px
  UNION ALL SELECT symbol, trade_date, 'loss_14', 1 / 14, GREATEST(-change, 0) FROM px
  UNION ALL
  SELECT
    symbol,
    trade_date,
    'true_range_14',
    1 / 14,
    IF(prev_close IS NULL, adj_high - adj_low,
       GREATEST(adj_high - adj_low, ABS(adj_high - prev_close), ABS(adj_low - prev_close)))
  FROM px
)
SELECT
  symbol,
  series,
  alpha,
  trade_date,
  x,
  ROW_NUMBER() OVER (PARTITION BY symbol, series ORDER BY trade_date) - 1 AS n
FROM series
WHERE x IS NOT NULL
