-- materialize: table
-- description: Exact recursive EMAs (seeded with the first value) of every ema_inputs series, in closed form.
-- The recursion E_0 = x_0, E_t = a*x_t + b*E_(t-1) with b = 1 - a has the closed form
--   E_t = sum_j c_j * b^(t-j) * x_j,   c_0 = 1, c_j = a,
-- which is a running window SUM once each term is scaled by b^(A-j) for an anchor A:
--   E_t = b^(t-A) * sum_j c_j * b^(A-j) * x_j.
-- Anchors every `block` rows keep b^(A-j) below e^500, so doubles never overflow; each
-- block also sums the `tail` rows before its anchor, beyond which b^k < 1e-16 and the
-- terms are below double precision. The result equals the recursion to rounding error.
WITH params AS (
  SELECT DISTINCT
    series,
    alpha,
    LN(1 - alpha) AS log_beta,
    CAST(FLOOR(500 / -LN(1 - alpha)) AS INT64) AS block,
    CAST(CEIL(37 / -LN(1 - alpha)) AS INT64) AS tail
  FROM ${features}.ema_inputs
),
spread AS (
  SELECT
    i.symbol,
    i.series,
    i.trade_date,
    i.n,
    IF(i.n = 0, 1.0, p.alpha) * i.x AS weighted_x,
    p.log_beta,
    p.block,
    DIV(i.n, p.block) + step AS anchor_block,
    step = 0 AS is_home
  FROM ${features}.ema_inputs AS i
  JOIN params AS p
    ON p.series = i.series
  CROSS JOIN UNNEST([0, 1]) AS step
  WHERE step = 0 OR i.n >= (DIV(i.n, p.block) + 1) * p.block - p.tail
),
summed AS (
  SELECT
    symbol,
    series,
    trade_date,
    n,
    is_home,
    log_beta,
    n - anchor_block * block AS since_anchor,
    SUM(weighted_x * EXP((anchor_block * block - n) * log_beta)) OVER (
      PARTITION BY symbol, series, anchor_block ORDER BY n ROWS UNBOUNDED PRECEDING
    ) AS scaled_sum
  FROM spread
)
SELECT
  symbol,
  series,
  trade_date,
  n,
  EXP(since_anchor * log_beta) * scaled_sum AS ema
FROM summed
WHERE is_home
