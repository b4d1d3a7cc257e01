-- description: Every bar has low <= open, close <= high and no missing price.
SELECT symbol, trade_date, open, high, low, close
FROM ${staging}.futures_daily
WHERE open IS NULL OR high IS NULL OR low IS NULL OR close IS NULL
  OR low > LEAST(open, close)
  OR high < GREATEST(open, close)
  OR low > high
