-- description: Staging holds exactly one bar per (symbol, trade_date).
SELECT symbol, trade_date, COUNT(*) AS bars
FROM ${staging}.futures_daily
GROUP BY symbol, trade_date
HAVING COUNT(*) > 1
