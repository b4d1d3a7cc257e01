-- materialize: table
-- partition_by: DATE_TRUNC(trade_date, MONTH)
-- description: One row per ZL trade date: technical, cross-asset, macro, positioning and weather features, regime stamp and warm-up flag.
SELECT
  s.trade_date,
  s.session_number,
  s.close,
  s.adj_close,
  s.is_roll_day,
  s.session_number < cfg.warmup_sessions OR s.trade_date < cfg.feature_start_date AS is_warmup,
  r.regime,
  t.ret_1d,
  t.ret_5d,
  t.ret_21d,
  t.ret_63d,
  t.sma_ratio_10,
  t.sma_ratio_20,
  t.sma_ratio_50,
  t.sma_ratio_200,
  t.ema_ratio_10,
  t.ema_ratio_20,
  t.ema_ratio_50,
  t.ema_ratio_200,
  t.rsi_14,
  t.macd,
  t.macd_signal,
  t.macd - t.macd_signal AS macd_hist,
  t.bb_pctb_20,
  t.atr_14_pct,
  t.rv_5,
  t.rv_21,
  t.rv_63,
  t.volume_z_21,
  t.dist_52w_high,
  t.dist_52w_low,
  x.board_crush,
  x.oil_share,
  x.zs_ret_1d,
  x.cl_ret_1d,
  x.es_ret_1d,
  x.zc_ret_1d,
  x.cl_ret_5d,
  x.es_ret_5d,
  x.corr_zl_cl_63,
  x.corr_zl_es_63,
  x.corr_zl_zs_63,
  m.dgs10,
  m.dgs2,
  m.term_spread,
  m.t10yie,
  m.fed_funds,
  m.cpi_yoy,
  m.usd_broad_chg_21,
  m.brent_wti_spread,
  m.brl_usd_chg_21,
  m.cot_zl_net_pct,
  m.cot_zl_net_chg,
  m.wx_tmax_anom_7d,
  m.wx_prcp_anom_30d
FROM ${staging}.futures_daily AS s
CROSS JOIN ${market_data}.cfg_settings AS cfg
JOIN ${features}.technical_daily AS t
  ON t.symbol = s.symbol AND t.trade_date = s.trade_date
JOIN ${features}.cross_asset_daily AS x
  ON x.trade_date = s.trade_date
JOIN ${features}.released_asof AS m
  ON m.trade_date = s.trade_date
LEFT JOIN ${training}.regime_lookup AS r
  ON s.trade_date BETWEEN r.start_date AND r.end_date
WHERE s.symbol = 'ZL'
