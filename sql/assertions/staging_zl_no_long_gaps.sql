-- description: ZL has no gap of more than 5 exchange sessions between consecutive bars.
SELECT symbol, previous_date, trade_date, trade_date_index - previous_index AS sessions_apart
FROM (
  SELECT
    symbol,
    trade_date,
    trade_date_index,
    LAG(trade_date) OVER by_date AS previous_date,
    LAG(trade_date_index) OVER by_date AS previous_index
  FROM ${staging}.futures_daily
  WHERE symbol = 'ZL'
  WINDOW by_date AS (ORDER BY trade_date)
)
WHERE trade_date_index - previous_index > 5
