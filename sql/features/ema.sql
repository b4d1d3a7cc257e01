-- materialize: view
-- description: Staging's bars with exact recursive EMAs (seeded with the first value), in closed form; technical_daily windows over it.
-- The recursion E_s = x_s, E_t = a*x_t + b*E_(t-1) (b = 1 - a, s the seed row) unrolls to
--   E_t = sum_(s <= j <= t) c_j * b^(t-j) * x_j,   c_s = 1, c_j = a,
-- a running window SUM once each term is scaled by b^(A-j) for an anchor A. Rows are cut
-- into blocks of 2,000 sessions, each anchored at its first row (offset k = n - A): inside
-- a block b^(-k) stays below e^446 for the fastest EMA here (span 9), far from overflow.
-- The block's own rows give S_t; the rows before it enter through the carry C = E_(A-1):
--   E_t = b^k * (S_t + b * C).
-- The carry itself is the recursion one level up, C_(next) = b^(2000-1) * S_last + b^2000 * C,
-- over a few blocks per symbol (a recursive CTE over a table of one row per block).
-- The result equals the recursion to rounding error (tests/test_features.py).
WITH RECURSIVE
px AS (
  SELECT
    symbol,
    trade_date,
    session_number AS n,
    adj_close,
    adj_high,
    adj_low,
    adj_log_return,
    volume,
    LAG(adj_close) OVER (PARTITION BY symbol ORDER BY trade_date) AS prev_close
  FROM ${staging}.futures_daily
),
inputs AS (
  -- Gains and losses start at the first change (n = 1): that is Wilder's seed for RSI.
  SELECT
    symbol,
    trade_date,
    n,
    DIV(n, 2000) AS block,
    MOD(n, 2000) AS k,
    adj_close,
    adj_high,
    adj_low,
    adj_log_return,
    volume,
    GREATEST(adj_close - prev_close, 0) AS gain,
    GREATEST(prev_close - adj_close, 0) AS loss,
    IF(prev_close IS NULL, adj_high - adj_low,
       GREATEST(adj_high - adj_low, ABS(adj_high - prev_close), ABS(adj_low - prev_close))) AS true_range
  FROM px
),
sums AS (
  -- Span-n EMAs use alpha = 2 / (n + 1); Wilder's smoothing (RSI, ATR) uses alpha = 1 / n.
  SELECT
    symbol,
    trade_date,
    n,
    block,
    k,
    adj_close,
    adj_high,
    adj_low,
    adj_log_return,
    volume,
    SUM(IF(n = 0, 1, 2 / 10) * adj_close * POW(8 / 10, -k)) OVER in_block AS ema_9,
    SUM(IF(n = 0, 1, 2 / 11) * adj_close * POW(9 / 11, -k)) OVER in_block AS ema_10,
    SUM(IF(n = 0, 1, 2 / 13) * adj_close * POW(11 / 13, -k)) OVER in_block AS ema_12,
    SUM(IF(n = 0, 1, 2 / 21) * adj_close * POW(19 / 21, -k)) OVER in_block AS ema_20,
    SUM(IF(n = 0, 1, 2 / 27) * adj_close * POW(25 / 27, -k)) OVER in_block AS ema_26,
    SUM(IF(n = 0, 1, 2 / 51) * adj_close * POW(49 / 51, -k)) OVER in_block AS ema_50,
    SUM(IF(n = 0, 1, 2 / 201) * adj_close * POW(199 / 201, -k)) OVER in_block AS ema_200,
    SUM(IF(n = 1, 1, 1 / 14) * gain * POW(13 / 14, -k)) OVER in_block AS avg_gain_14,
    SUM(IF(n = 1, 1, 1 / 14) * loss * POW(13 / 14, -k)) OVER in_block AS avg_loss_14,
    SUM(IF(n = 0, 1, 1 / 14) * true_range * POW(13 / 14, -k)) OVER in_block AS atr_14
  FROM inputs
  WINDOW in_block AS (PARTITION BY symbol, block ORDER BY n ROWS UNBOUNDED PRECEDING)
),
block_ends AS (
  -- A full block's own part of the EMA at its last row.
  SELECT
    symbol,
    block,
    POW(8 / 10, 1999) * ema_9 AS ema_9,
    POW(9 / 11, 1999) * ema_10 AS ema_10,
    POW(11 / 13, 1999) * ema_12 AS ema_12,
    POW(19 / 21, 1999) * ema_20 AS ema_20,
    POW(25 / 27, 1999) * ema_26 AS ema_26,
    POW(49 / 51, 1999) * ema_50 AS ema_50,
    POW(199 / 201, 1999) * ema_200 AS ema_200,
    POW(13 / 14, 1999) * avg_gain_14 AS avg_gain_14,
    POW(13 / 14, 1999) * avg_loss_14 AS avg_loss_14,
    POW(13 / 14, 1999) * atr_14 AS atr_14
  FROM sums
  WHERE k = 1999
),
carries AS (
  -- The EMA at the row before each block: zero before block 0, then block by block.
  SELECT
    symbol,
    1 AS block,
    ema_9,
    ema_10,
    ema_12,
    ema_20,
    ema_26,
    ema_50,
    ema_200,
    avg_gain_14,
    avg_loss_14,
    atr_14
  FROM block_ends
  WHERE block = 0
  UNION ALL
  SELECT
    c.symbol,
    c.block + 1,
    e.ema_9 + POW(8 / 10, 2000) * c.ema_9,
    e.ema_10 + POW(9 / 11, 2000) * c.ema_10,
    e.ema_12 + POW(11 / 13, 2000) * c.ema_12,
    e.ema_20 + POW(19 / 21, 2000) * c.ema_20,
    e.ema_26 + POW(25 / 27, 2000) * c.ema_26,
    e.ema_50 + POW(49 / 51, 2000) * c.ema_50,
    e.ema_200 + POW(199 / 201, 2000) * c.ema_200,
    e.avg_gain_14 + POW(13 / 14, 2000) * c.avg_gain_14,
    e.avg_loss_14 + POW(13 / 14, 2000) * c.avg_loss_14,
    e.atr_14 + POW(13 / 14, 2000) * c.atr_14
  FROM carries AS c
  JOIN block_ends AS e
    ON e.symbol = c.symbol AND e.block = c.block
)
SELECT
  s.symbol,
  s.trade_date,
  s.n AS session_number,
  s.adj_close,
  s.adj_high,
  s.adj_low,
  s.adj_log_return,
  s.volume,
  POW(8 / 10, s.k) * (s.ema_9 + 8 / 10 * COALESCE(c.ema_9, 0)) AS ema_9,
  POW(9 / 11, s.k) * (s.ema_10 + 9 / 11 * COALESCE(c.ema_10, 0)) AS ema_10,
  POW(11 / 13, s.k) * (s.ema_12 + 11 / 13 * COALESCE(c.ema_12, 0)) AS ema_12,
  POW(19 / 21, s.k) * (s.ema_20 + 19 / 21 * COALESCE(c.ema_20, 0)) AS ema_20,
  POW(25 / 27, s.k) * (s.ema_26 + 25 / 27 * COALESCE(c.ema_26, 0)) AS ema_26,
  POW(49 / 51, s.k) * (s.ema_50 + 49 / 51 * COALESCE(c.ema_50, 0)) AS ema_50,
  POW(199 / 201, s.k) * (s.ema_200 + 199 / 201 * COALESCE(c.ema_200, 0)) AS ema_200,
  POW(13 / 14, s.k) * (s.avg_gain_14 + 13 / 14 * COALESCE(c.avg_gain_14, 0)) AS avg_gain_14,
  POW(13 / 14, s.k) * (s.avg_loss_14 + 13 / 14 * COALESCE(c.avg_loss_14, 0)) AS avg_loss_14,
  POW(13 / 14, s.k) * (s.atr_14 + 13 / 14 * COALESCE(c.atr_14, 0)) AS atr_14
FROM sums AS s
LEFT JOIN carries AS c
  ON c.symbol = s.symbol AND c.block = s.block
