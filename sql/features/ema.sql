-- materialize: view
-- description: Staging's bars with exact recursive EMAs (seeded with the first value), in closed form, and the short window aggregates that technical_daily builds its long windows from.
-- The recursion E_s = x_s, E_t = a*x_t + b*E_(t-1) (b = 1 - a, s the seed row) unrolls to
--   E_t = sum_(s <= j <= t) c_j * b^(t-j) * x_j,   c_s = 1, c_j = a,
-- a running window SUM once each term is scaled by b^(A-j) for an anchor A. Rows are cut
-- into blocks of 16 sessions, each anchored at its first row (offset k = n - A). The
-- block's own rows give S_t; the rows before it enter through the carry C = E_(A-1):
--   E_t = b^k * (S_t + b * C).
-- Blocks are short because DuckDB's running sums cost more the longer the partition (ten
-- of them at 10 M rows: 14.5 s CPU in 2,000-row blocks, 8.4 s in 16-row blocks).
-- The carries obey the same recursion one level up, one row per block with decay
-- beta = b^16: C_(B+1) = beta * C_B + b^15 * T_B, T_B the sum of block B's terms. So they
-- get the same closed form: running sums over superblocks of 128 blocks (2,048 sessions;
-- beta^(-127) = b^(-2032) stays below e^454 for span 9, the fastest EMA here, far from
-- overflow), and a recursive CTE over one row per superblock (ten for 20,000 sessions).
-- A carry enters its block (or superblock) as an extra first row of the running sum
-- (k = -1, q = -1), not by a join of every row with its carry, and block totals come
-- from GROUP BY, not from the running sums: one pass over the rows per window.
-- b^k on the 10 M-row paths is written EXP(k * LN(b)), half the time of DuckDB's POWER.
-- The result equals the recursion to rounding error (tests/test_features.py).
WITH RECURSIVE
px AS (
  -- Its own CTE so that only these columns are kept for bars' two readers (block totals
  -- and the running sums), which recompute the terms: cheaper than holding ten more.
  -- The framed windows here are the building blocks of technical_daily's longer ones,
  -- which add up (or take the max or min of) a few of them read back with LAG: a framed
  -- window costs less in this narrow pass than in technical_daily's wide one, and a LAG
  -- costs a fraction of either (docs/features.md). high_63 and low_63 take the place of
  -- adj_high and adj_low from here on; only the true range (bars) reads those.
  SELECT
    symbol,
    trade_date,
    session_number,
    adj_close,
    adj_high,
    adj_low,
    adj_log_return,
    volume,
    LAG(adj_close) OVER by_date AS prev_close,
    SUM(adj_close) OVER last_10 AS close_sum_10,
    SUM(adj_close) OVER last_50 AS close_sum_50,
    SUM(adj_log_return) OVER last_21 AS ret_sum_21,
    SUM(adj_log_return * adj_log_return) OVER last_21 AS ret_sumsq_21,
    MAX(adj_high) OVER last_63 AS high_63,
    MIN(adj_low) OVER last_63 AS low_63
  FROM ${staging}.futures_daily
  WINDOW
    by_date AS (PARTITION BY symbol ORDER BY trade_date),
    last_10 AS (PARTITION BY symbol ORDER BY trade_date ROWS BETWEEN 9 PRECEDING AND CURRENT ROW),
    last_21 AS (PARTITION BY symbol ORDER BY trade_date ROWS BETWEEN 20 PRECEDING AND CURRENT ROW),
    last_50 AS (PARTITION BY symbol ORDER BY trade_date ROWS BETWEEN 49 PRECEDING AND CURRENT ROW),
    last_63 AS (PARTITION BY symbol ORDER BY trade_date ROWS BETWEEN 62 PRECEDING AND CURRENT ROW)
),
bars AS (
  -- Span-n EMAs use alpha = 2 / (n + 1); Wilder's smoothing (RSI, ATR) uses alpha = 1 / n.
  -- Gains and losses start at the first change (n = 1): that is Wilder's seed for RSI. The
  -- true range of the first bar, with no previous close, is H - L.
  SELECT
    symbol,
    trade_date,
    session_number AS n,
    DIV(session_number, 16) AS block,
    MOD(session_number, 16) AS k,
    adj_close,
    high_63,
    low_63,
    adj_log_return,
    volume,
    close_sum_10,
    close_sum_50,
    ret_sum_21,
    ret_sumsq_21,
    IF(session_number = 0, 1, 2 / 10) * adj_close * EXP(-MOD(session_number, 16) * LN(8 / 10)) AS ema_9,
    IF(session_number = 0, 1, 2 / 11) * adj_close * EXP(-MOD(session_number, 16) * LN(9 / 11)) AS ema_10,
    IF(session_number = 0, 1, 2 / 13) * adj_close * EXP(-MOD(session_number, 16) * LN(11 / 13)) AS ema_12,
    IF(session_number = 0, 1, 2 / 21) * adj_close * EXP(-MOD(session_number, 16) * LN(19 / 21)) AS ema_20,
    IF(session_number = 0, 1, 2 / 27) * adj_close * EXP(-MOD(session_number, 16) * LN(25 / 27)) AS ema_26,
    IF(session_number = 0, 1, 2 / 51) * adj_close * EXP(-MOD(session_number, 16) * LN(49 / 51)) AS ema_50,
    IF(session_number = 0, 1, 2 / 201) * adj_close * EXP(-MOD(session_number, 16) * LN(199 / 201)) AS ema_200,
    IF(session_number = 1, 1, 1 / 14) * GREATEST(adj_close - prev_close, 0)
      * EXP(-MOD(session_number, 16) * LN(13 / 14)) AS avg_gain_14,
    IF(session_number = 1, 1, 1 / 14) * GREATEST(prev_close - adj_close, 0)
      * EXP(-MOD(session_number, 16) * LN(13 / 14)) AS avg_loss_14,
    IF(session_number = 0, 1, 1 / 14)
      * IF(prev_close IS NULL, adj_high - adj_low,
           GREATEST(adj_high - adj_low, ABS(adj_high - prev_close),
                    ABS(adj_low - prev_close)))
      * EXP(-MOD(session_number, 16) * LN(13 / 14)) AS atr_14
  FROM px
),
blocks AS (
  -- Each full block's own part of the EMA at its last row, b^15 * T_B; q numbers the
  -- blocks of a superblock.
  SELECT
    symbol,
    DIV(block, 128) AS super,
    MOD(block, 128) AS q,
    POW(8 / 10, 15) * SUM(ema_9) AS ema_9,
    POW(9 / 11, 15) * SUM(ema_10) AS ema_10,
    POW(11 / 13, 15) * SUM(ema_12) AS ema_12,
    POW(19 / 21, 15) * SUM(ema_20) AS ema_20,
    POW(25 / 27, 15) * SUM(ema_26) AS ema_26,
    POW(49 / 51, 15) * SUM(ema_50) AS ema_50,
    POW(199 / 201, 15) * SUM(ema_200) AS ema_200,
    POW(13 / 14, 15) * SUM(avg_gain_14) AS avg_gain_14,
    POW(13 / 14, 15) * SUM(avg_loss_14) AS avg_loss_14,
    POW(13 / 14, 15) * SUM(atr_14) AS atr_14
  FROM bars
  GROUP BY symbol, block
  HAVING COUNT(*) = 16
),
supers AS (
  -- Each full superblock's blocks in closed form: sum of beta^(-q) * b^15 * T_B.
  SELECT
    symbol,
    super,
    SUM(POW(8 / 10, -16 * q) * ema_9) AS ema_9,
    SUM(POW(9 / 11, -16 * q) * ema_10) AS ema_10,
    SUM(POW(11 / 13, -16 * q) * ema_12) AS ema_12,
    SUM(POW(19 / 21, -16 * q) * ema_20) AS ema_20,
    SUM(POW(25 / 27, -16 * q) * ema_26) AS ema_26,
    SUM(POW(49 / 51, -16 * q) * ema_50) AS ema_50,
    SUM(POW(199 / 201, -16 * q) * ema_200) AS ema_200,
    SUM(POW(13 / 14, -16 * q) * avg_gain_14) AS avg_gain_14,
    SUM(POW(13 / 14, -16 * q) * avg_loss_14) AS avg_loss_14,
    SUM(POW(13 / 14, -16 * q) * atr_14) AS atr_14
  FROM blocks
  GROUP BY symbol, super
  HAVING COUNT(*) = 128
),
super_carries AS (
  -- The EMA at the row before each superblock: zero before superblock 0, then one by
  -- one, K_(s+1) = beta^127 * supers_s + beta^128 * K_s.
  SELECT
    symbol,
    1 AS super,
    POW(8 / 10, 16 * 127) * ema_9 AS ema_9,
    POW(9 / 11, 16 * 127) * ema_10 AS ema_10,
    POW(11 / 13, 16 * 127) * ema_12 AS ema_12,
    POW(19 / 21, 16 * 127) * ema_20 AS ema_20,
    POW(25 / 27, 16 * 127) * ema_26 AS ema_26,
    POW(49 / 51, 16 * 127) * ema_50 AS ema_50,
    POW(199 / 201, 16 * 127) * ema_200 AS ema_200,
    POW(13 / 14, 16 * 127) * avg_gain_14 AS avg_gain_14,
    POW(13 / 14, 16 * 127) * avg_loss_14 AS avg_loss_14,
    POW(13 / 14, 16 * 127) * atr_14 AS atr_14
  FROM supers
  WHERE super = 0
  UNION ALL
  SELECT
    c.symbol,
    c.super + 1,
    POW(8 / 10, 16 * 127) * e.ema_9 + POW(8 / 10, 16 * 128) * c.ema_9,
    POW(9 / 11, 16 * 127) * e.ema_10 + POW(9 / 11, 16 * 128) * c.ema_10,
    POW(11 / 13, 16 * 127) * e.ema_12 + POW(11 / 13, 16 * 128) * c.ema_12,
    POW(19 / 21, 16 * 127) * e.ema_20 + POW(19 / 21, 16 * 128) * c.ema_20,
    POW(25 / 27, 16 * 127) * e.ema_26 + POW(25 / 27, 16 * 128) * c.ema_26,
    POW(49 / 51, 16 * 127) * e.ema_50 + POW(49 / 51, 16 * 128) * c.ema_50,
    POW(199 / 201, 16 * 127) * e.ema_200 + POW(199 / 201, 16 * 128) * c.ema_200,
    POW(13 / 14, 16 * 127) * e.avg_gain_14 + POW(13 / 14, 16 * 128) * c.avg_gain_14,
    POW(13 / 14, 16 * 127) * e.avg_loss_14 + POW(13 / 14, 16 * 128) * c.avg_loss_14,
    POW(13 / 14, 16 * 127) * e.atr_14 + POW(13 / 14, 16 * 128) * c.atr_14
  FROM super_carries AS c
  JOIN supers AS e
    ON e.symbol = c.symbol AND e.super = c.super
),
block_terms AS (
  -- A superblock's blocks as terms beta^(-q) * b^15 * T_B, after its carry times beta as
  -- a first row (q = -1).
  SELECT
    symbol,
    super,
    q,
    POW(8 / 10, -16 * q) * ema_9 AS ema_9,
    POW(9 / 11, -16 * q) * ema_10 AS ema_10,
    POW(11 / 13, -16 * q) * ema_12 AS ema_12,
    POW(19 / 21, -16 * q) * ema_20 AS ema_20,
    POW(25 / 27, -16 * q) * ema_26 AS ema_26,
    POW(49 / 51, -16 * q) * ema_50 AS ema_50,
    POW(199 / 201, -16 * q) * ema_200 AS ema_200,
    POW(13 / 14, -16 * q) * avg_gain_14 AS avg_gain_14,
    POW(13 / 14, -16 * q) * avg_loss_14 AS avg_loss_14,
    POW(13 / 14, -16 * q) * atr_14 AS atr_14
  FROM blocks
  UNION ALL
  SELECT
    symbol,
    super,
    -1,
    POW(8 / 10, 16) * ema_9,
    POW(9 / 11, 16) * ema_10,
    POW(11 / 13, 16) * ema_12,
    POW(19 / 21, 16) * ema_20,
    POW(25 / 27, 16) * ema_26,
    POW(49 / 51, 16) * ema_50,
    POW(199 / 201, 16) * ema_200,
    POW(13 / 14, 16) * avg_gain_14,
    POW(13 / 14, 16) * avg_loss_14,
    POW(13 / 14, 16) * atr_14
  FROM super_carries
),
block_carries AS (
  -- The EMA at the last row of block q of a superblock: the carry into the next block.
  SELECT
    symbol,
    128 * super + q + 1 AS block,
    q,
    POW(8 / 10, 16 * q) * SUM(ema_9) OVER in_super AS ema_9,
    POW(9 / 11, 16 * q) * SUM(ema_10) OVER in_super AS ema_10,
    POW(11 / 13, 16 * q) * SUM(ema_12) OVER in_super AS ema_12,
    POW(19 / 21, 16 * q) * SUM(ema_20) OVER in_super AS ema_20,
    POW(25 / 27, 16 * q) * SUM(ema_26) OVER in_super AS ema_26,
    POW(49 / 51, 16 * q) * SUM(ema_50) OVER in_super AS ema_50,
    POW(199 / 201, 16 * q) * SUM(ema_200) OVER in_super AS ema_200,
    POW(13 / 14, 16 * q) * SUM(avg_gain_14) OVER in_super AS avg_gain_14,
    POW(13 / 14, 16 * q) * SUM(avg_loss_14) OVER in_super AS avg_loss_14,
    POW(13 / 14, 16 * q) * SUM(atr_14) OVER in_super AS atr_14
  FROM block_terms
  WINDOW in_super AS (PARTITION BY symbol, super ORDER BY q ROWS UNBOUNDED PRECEDING)
),
terms AS (
  -- The bars' terms, and before each block's first row its carry times b (k = -1).
  SELECT
    symbol, trade_date, n, block, k, adj_close, high_63, low_63, adj_log_return, volume,
    close_sum_10, close_sum_50, ret_sum_21, ret_sumsq_21,
    ema_9, ema_10, ema_12, ema_20, ema_26, ema_50, ema_200, avg_gain_14, avg_loss_14, atr_14
  FROM bars
  UNION ALL
  SELECT
    symbol,
    CAST(NULL AS DATE),
    16 * block - 1,
    block,
    -1,
    CAST(NULL AS FLOAT64),
    CAST(NULL AS FLOAT64),
    CAST(NULL AS FLOAT64),
    CAST(NULL AS FLOAT64),
    CAST(NULL AS FLOAT64),
    CAST(NULL AS FLOAT64),
    CAST(NULL AS FLOAT64),
    CAST(NULL AS FLOAT64),
    CAST(NULL AS FLOAT64),
    8 / 10 * ema_9,
    9 / 11 * ema_10,
    11 / 13 * ema_12,
    19 / 21 * ema_20,
    25 / 27 * ema_26,
    49 / 51 * ema_50,
    199 / 201 * ema_200,
    13 / 14 * avg_gain_14,
    13 / 14 * avg_loss_14,
    13 / 14 * atr_14
  FROM block_carries
  WHERE q >= 0
),
sums AS (
  SELECT
    symbol, trade_date, n, k, adj_close, high_63, low_63, adj_log_return, volume,
    close_sum_10, close_sum_50, ret_sum_21, ret_sumsq_21,
    SUM(ema_9) OVER in_block AS ema_9,
    SUM(ema_10) OVER in_block AS ema_10,
    SUM(ema_12) OVER in_block AS ema_12,
    SUM(ema_20) OVER in_block AS ema_20,
    SUM(ema_26) OVER in_block AS ema_26,
    SUM(ema_50) OVER in_block AS ema_50,
    SUM(ema_200) OVER in_block AS ema_200,
    SUM(avg_gain_14) OVER in_block AS avg_gain_14,
    SUM(avg_loss_14) OVER in_block AS avg_loss_14,
    SUM(atr_14) OVER in_block AS atr_14
  FROM terms
  WINDOW in_block AS (PARTITION BY symbol, block ORDER BY n ROWS UNBOUNDED PRECEDING)
)
SELECT
  symbol,
  trade_date,
  n AS session_number,
  adj_close,
  high_63,
  low_63,
  adj_log_return,
  volume,
  close_sum_10,
  close_sum_50,
  ret_sum_21,
  ret_sumsq_21,
  EXP(k * LN(8 / 10)) * ema_9 AS ema_9,
  EXP(k * LN(9 / 11)) * ema_10 AS ema_10,
  EXP(k * LN(11 / 13)) * ema_12 AS ema_12,
  EXP(k * LN(19 / 21)) * ema_20 AS ema_20,
  EXP(k * LN(25 / 27)) * ema_26 AS ema_26,
  EXP(k * LN(49 / 51)) * ema_50 AS ema_50,
  EXP(k * LN(199 / 201)) * ema_200 AS ema_200,
  EXP(k * LN(13 / 14)) * avg_gain_14 AS avg_gain_14,
  EXP(k * LN(13 / 14)) * avg_loss_14 AS avg_loss_14,
  EXP(k * LN(13 / 14)) * atr_14 AS atr_14
FROM sums
WHERE k >= 0
