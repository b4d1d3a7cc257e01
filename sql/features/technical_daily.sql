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
    -- The last five returns are read one by one (LAG costs a fraction of a framed window):
    -- their sum and their two-pass standard deviation come from these below.
    LAG(s.adj_log_return, 1) OVER by_date AS ret_lag_1,
    LAG(s.adj_log_return, 2) OVER by_date AS ret_lag_2,
    LAG(s.adj_log_return, 3) OVER by_date AS ret_lag_3,
    LAG(s.adj_log_return, 4) OVER by_date AS ret_lag_4,
    -- Longer windows from features.ema's 10-, 21-, 50- and 63-row ones, read back with LAG:
    -- the 63-row return sums 3 windows of 21, the 20- and 200-row averages 2 of 10 and 4
    -- of 50, the 252-row high and low 4 of 63.
    IF(s.session_number >= 21, s.ret_sum_21, NULL) AS ret_21d,
    IF(
      s.session_number >= 63,
      s.ret_sum_21 + LAG(s.ret_sum_21, 21) OVER by_date + LAG(s.ret_sum_21, 42) OVER by_date,
      NULL
    ) AS ret_63d,
    -- session_number counts a symbol's rows from 0: an n-row window is full from n - 1 on.
    IF(s.session_number >= 9, s.close_sum_10 / 10, NULL) AS sma_10,
    IF(s.session_number >= 19, (s.close_sum_10 + LAG(s.close_sum_10, 10) OVER by_date) / 20, NULL)
      AS sma_20,
    IF(s.session_number >= 49, s.close_sum_50 / 50, NULL) AS sma_50,
    IF(
      s.session_number >= 199,
      (
        s.close_sum_50 + LAG(s.close_sum_50, 50) OVER by_date
        + LAG(s.close_sum_50, 100) OVER by_date + LAG(s.close_sum_50, 150) OVER by_date
      ) / 200,
      NULL
    ) AS sma_200,
    -- Prices sit far from zero: their sd keeps the aggregate's own (centred) algorithm.
    IF(s.session_number >= 19, STDDEV_POP(s.adj_close) OVER last_20, NULL) AS sd_20,
    -- Returns take their sd from sums of squares (moments, below) rather than from STDDEV
    -- windows, which cost more than SUM windows. The first session has no return: a full
    -- window needs n returns after it.
    IF(s.session_number >= 21, s.ret_sumsq_21, NULL) AS ret_sumsq_21,
    IF(
      s.session_number >= 63,
      s.ret_sumsq_21 + LAG(s.ret_sumsq_21, 21) OVER by_date + LAG(s.ret_sumsq_21, 42) OVER by_date,
      NULL
    ) AS ret_sumsq_63,
    -- Volumes, like prices, sit far from zero: their sd keeps STDDEV's centred algorithm.
    IF(s.session_number >= 20, AVG(s.volume) OVER last_21, NULL) AS volume_mean_21,
    IF(s.session_number >= 20, STDDEV_SAMP(s.volume) OVER last_21, NULL) AS volume_sd_21,
    IF(
      s.session_number >= 251,
      GREATEST(
        s.high_63, LAG(s.high_63, 63) OVER by_date,
        LAG(s.high_63, 126) OVER by_date, LAG(s.high_63, 189) OVER by_date
      ),
      NULL
    ) AS high_252,
    IF(
      s.session_number >= 251,
      LEAST(
        s.low_63, LAG(s.low_63, 63) OVER by_date,
        LAG(s.low_63, 126) OVER by_date, LAG(s.low_63, 189) OVER by_date
      ),
      NULL
    ) AS low_252
  FROM ${features}.ema AS s
  WINDOW
    by_date AS (PARTITION BY s.symbol ORDER BY s.trade_date),
    last_20 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
    last_21 AS (PARTITION BY s.symbol ORDER BY s.trade_date ROWS BETWEEN 20 PRECEDING AND CURRENT ROW)
),
moments AS (
  -- n * (sum of squared deviations) of the returns = n * S2 - S1^2. Its rounding error is
  -- a few ulps of n * S2, which is about the result itself because the returns' mean is
  -- near 0 (n * S2 = result + S1^2): the sd keeps nearly full precision, unlike such sums
  -- for prices or volumes. Zero returns give exactly 0; rounding can leave a window of
  -- identical non-zero returns a few ulps below 0, so it is clamped at 0.
  SELECT
    *,
    IF(
      session_number >= 5, adj_log_return + ret_lag_1 + ret_lag_2 + ret_lag_3 + ret_lag_4, NULL
    ) AS ret_5d,
    21 * ret_sumsq_21 - ret_21d * ret_21d AS ret_nsqdev_21,
    63 * ret_sumsq_63 - ret_63d * ret_63d AS ret_nsqdev_63
  FROM windows
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
  -- Sample sds (ddof 1), annualised: sqrt(252 * (sum of squared deviations) / (n - 1)).
  -- For the last five returns that sum is taken in two passes (deviations from their
  -- mean); for 21 and 63 it is nsqdev / n, clamped at 0.
  SQRT(
    (
      (w.adj_log_return - w.ret_5d / 5) * (w.adj_log_return - w.ret_5d / 5)
      + (w.ret_lag_1 - w.ret_5d / 5) * (w.ret_lag_1 - w.ret_5d / 5)
      + (w.ret_lag_2 - w.ret_5d / 5) * (w.ret_lag_2 - w.ret_5d / 5)
      + (w.ret_lag_3 - w.ret_5d / 5) * (w.ret_lag_3 - w.ret_5d / 5)
      + (w.ret_lag_4 - w.ret_5d / 5) * (w.ret_lag_4 - w.ret_5d / 5)
    ) * (252 / 4)
  ) AS rv_5,
  SQRT(GREATEST(w.ret_nsqdev_21, 0) * (252 / 420)) AS rv_21,
  SQRT(GREATEST(w.ret_nsqdev_63, 0) * (252 / 3906)) AS rv_63,
  SAFE_DIVIDE(w.volume - w.volume_mean_21, w.volume_sd_21) AS volume_z_21,
  w.adj_close / w.high_252 - 1 AS dist_52w_high,
  w.adj_close / w.low_252 - 1 AS dist_52w_low
FROM moments AS w
