-- materialize: table
-- partition_by: DATE_TRUNC(trade_date, MONTH)
-- cluster_by: symbol
-- description: Technical indicators per (symbol, trade_date) on roll-adjusted prices; every value uses rows up to trade_date only.
WITH windows AS (
  SELECT
    s.symbol,
    s.trade_date,
    s.session_number,
    s.adj_close,
    s.adj_log_return,
    s.volume,
    s.ema_9,
    s.ema_10,
    s.ema_12,
    s.ema_20,
    s.ema_26,
    s.ema_50,
    s.ema_200,
    s.avg_gain_14,
    s.avg_loss_14,
    s.atr_14,
    -- Sums of roll-adjusted log returns: ln(adj_close_t / adj_close_(t-k)) without a log
    -- of a price, which CL's negative settlement on 2020-04-20 would not survive.
    IF(s.session_number >= 1, s.adj_log_return, NULL) AS ret_1d,
    IF(s.session_number >= 5, SUM(s.adj_log_return) OVER last_5, NULL) AS ret_5d,
    IF(s.session_number >= 21, SUM(s.adj_log_return) OVER last_21, NULL) AS ret_21d,
    IF(s.session_number >= 63, SUM(s.adj_log_return) OVER last_63, NULL) AS ret_63d,
    -- session_number counts a symbol's rows from 0: an n-row window is full from n - 1 on.
    IF(s.session_number >= 9, AVG(s.adj_close) OVER last_10, NULL) AS sma_10,
    IF(s.session_number >= 19, AVG(s.adj_close) OVER last_20, NULL) AS sma_20,
    IF(s.session_number >= 49, AVG(s.adj_close) OVER last_50, NULL) AS sma_50,
    IF(s.session_number >= 199, AVG(s.adj_close) OVER last_200, NULL) AS sma_200,
    IF(s.session_number >= 19, STDDEV_POP(s.adj_close) OVER last_20, NULL) AS sd_20,
    -- The first session has no return: a full window needs n returns after it.
    IF(s.session_number >= 5, STDDEV_SAMP(s.adj_log_return) OVER last_5, NULL) AS sd_ret_5,
    IF(s.session_number >= 21, STDDEV_SAMP(s.adj_log_return) OVER last_21, NULL) AS sd_ret_21,
    IF(s.session_number >= 63, STDDEV_SAMP(s.adj_log_return) OVER last_63, NULL) AS sd_ret_63,
    IF(s.session_number >= 20, AVG(s.volume) OVER last_21, NULL) AS volume_mean_21,
    IF(s.session_number >= 20, STDDEV_SAMP(s.volume) OVER last_21, NULL) AS volume_sd_21,
    IF(s.session_number >= 251, MAX(s.adj_high) OVER last_252, NULL) AS high_252,
    IF(s.session_number >= 251, MIN(s.adj_low) OVER last_252, NULL) AS low_252
  FROM ${features}.ema AS s
  WINDOW
    last_5 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 4 PRECEDING AND CURRENT ROW),
    last_10 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 9 PRECEDING AND CURRENT ROW),
    last_20 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
    last_21 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 20 PRECEDING AND CURRENT ROW),
    last_50 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 49 PRECEDING AND CURRENT ROW),
    last_63 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 62 PRECEDING AND CURRENT ROW),
    last_200 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 199 PRECEDING AND CURRENT ROW),
    last_252 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 251 PRECEDING AND CURRENT ROW)
)
SELECT
  w.symbol,
  w.trade_date,
  w.session_number,
  w.ret_1d,
  w.ret_5d,
  w.ret_21d,
  w.ret_63d,
  w.adj_close / w.sma_10 - 1 AS sma_ratio_10,
  w.adj_close / w.sma_20 - 1 AS sma_ratio_20,
  w.adj_close / w.sma_50 - 1 AS sma_ratio_50,
  w.adj_close / w.sma_200 - 1 AS sma_ratio_200,
  w.adj_close / w.ema_10 - 1 AS ema_ratio_10,
  w.adj_close / w.ema_20 - 1 AS ema_ratio_20,
  w.adj_close / w.ema_50 - 1 AS ema_ratio_50,
  w.adj_close / w.ema_200 - 1 AS ema_ratio_200,
  -- Wilder RSI; a window with no losses is 100 by definition.
  IF(w.avg_loss_14 = 0, 100, 100 - 100 / (1 + SAFE_DIVIDE(w.avg_gain_14, w.avg_loss_14))) AS rsi_14,
  -- MACD in fractions of price, so it reads the same at 20 and at 80 cents/lb. The signal
  -- EMA_9(EMA_12 - EMA_26) is linear, and a product of two EMA filters splits into two
  -- EMAs of the price (partial fractions): EMA_a(EMA_b(x)) = k_ab EMA_a(x) + k_ba EMA_b(x)
  -- with k_ab = (1 - b_b) b_a / (b_a - b_b), b = 1 - alpha. So no second recursive pass.
  (w.ema_12 - w.ema_26) / w.adj_close AS macd,
  (
    ((1 - 11 / 13) * (8 / 10) / (8 / 10 - 11 / 13)) * w.ema_9
    + ((1 - 8 / 10) * (11 / 13) / (11 / 13 - 8 / 10)) * w.ema_12
    - ((1 - 25 / 27) * (8 / 10) / (8 / 10 - 25 / 27)) * w.ema_9
    - ((1 - 8 / 10) * (25 / 27) / (25 / 27 - 8 / 10)) * w.ema_26
  ) / w.adj_close AS macd_signal,
  SAFE_DIVIDE(w.adj_close - (w.sma_20 - 2 * w.sd_20), 4 * w.sd_20) AS bb_pctb_20,
  w.atr_14 / w.adj_close AS atr_14_pct,
  w.sd_ret_5 * SQRT(252) AS rv_5,
  w.sd_ret_21 * SQRT(252) AS rv_21,
  w.sd_ret_63 * SQRT(252) AS rv_63,
  SAFE_DIVIDE(w.volume - w.volume_mean_21, w.volume_sd_21) AS volume_z_21,
  w.adj_close / w.high_252 - 1 AS dist_52w_high,
  w.adj_close / w.low_252 - 1 AS dist_52w_low
FROM windows AS w
