-- description: Closes stay inside plausible bounds per market (CL may settle negative, as on 2020-04-20).
WITH bounds AS (
  SELECT 'ZL' AS symbol, 5.0 AS min_close, 250.0 AS max_close
  UNION ALL SELECT 'ZS', 200.0, 3000.0
  UNION ALL SELECT 'ZM', 50.0, 1200.0
  UNION ALL SELECT 'ZC', 100.0, 1500.0
  UNION ALL SELECT 'CL', -100.0, 300.0
  UNION ALL SELECT 'ES', 300.0, 20000.0
)
SELECT s.symbol, s.trade_date, s.close, b.min_close, b.max_close
FROM ${staging}.futures_daily AS s
LEFT JOIN bounds AS b
  ON b.symbol = s.symbol
WHERE b.symbol IS NULL OR s.close < b.min_close OR s.close > b.max_close
