-- description: Past warm-up, every ZL feature row is complete (a NULL there means a source or join gap).
SELECT
  trade_date,
  ARRAY_TO_STRING(ARRAY_CONCAT(
    IF(regime IS NULL, ['regime'], []),
    IF(ret_1d IS NULL, ['ret_1d'], []),
    IF(ret_5d IS NULL, ['ret_5d'], []),
    IF(ret_21d IS NULL, ['ret_21d'], []),
    IF(ret_63d IS NULL, ['ret_63d'], []),
    IF(sma_ratio_10 IS NULL, ['sma_ratio_10'], []),
    IF(sma_ratio_20 IS NULL, ['sma_ratio_20'], []),
    IF(sma_ratio_50 IS NULL, ['sma_ratio_50'], []),
    IF(sma_ratio_200 IS NULL, ['sma_ratio_200'], []),
    IF(ema_ratio_10 IS NULL, ['ema_ratio_10'], []),
    IF(ema_ratio_20 IS NULL, ['ema_ratio_20'], []),
    IF(ema_ratio_50 IS NULL, ['ema_ratio_50'], []),
    IF(ema_ratio_200 IS NULL, ['ema_ratio_200'], []),
    IF(rsi_14 IS NULL, ['rsi_14'], []),
    IF(macd IS NULL, ['macd'], []),
    IF(macd_signal IS NULL, ['macd_signal'], []),
    IF(macd_hist IS NULL, ['macd_hist'], []),
    IF(bb_pctb_20 IS NULL, ['bb_pctb_20'], []),
    IF(atr_14_pct IS NULL, ['atr_14_pct'], []),
    IF(rv_5 IS NULL, ['rv_5'], []),
    IF(rv_21 IS NULL, ['rv_21'], []),
    IF(rv_63 IS NULL, ['rv_63'], []),
    IF(volume_z_21 IS NULL, ['volume_z_21'], []),
    IF(dist_52w_high IS NULL, ['dist_52w_high'], []),
    IF(dist_52w_low IS NULL, ['dist_52w_low'], []),
    IF(board_crush IS NULL, ['board_crush'], []),
    IF(oil_share IS NULL, ['oil_share'], []),
    IF(zs_ret_1d IS NULL, ['zs_ret_1d'], []),
    IF(cl_ret_1d IS NULL, ['cl_ret_1d'], []),
    IF(es_ret_1d IS NULL, ['es_ret_1d'], []),
    IF(zc_ret_1d IS NULL, ['zc_ret_1d'], []),
    IF(cl_ret_5d IS NULL, ['cl_ret_5d'], []),
    IF(es_ret_5d IS NULL, ['es_ret_5d'], []),
    IF(corr_zl_cl_63 IS NULL, ['corr_zl_cl_63'], []),
    IF(corr_zl_es_63 IS NULL, ['corr_zl_es_63'], []),
    IF(corr_zl_zs_63 IS NULL, ['corr_zl_zs_63'], []),
    IF(dgs10 IS NULL, ['dgs10'], []),
    IF(dgs2 IS NULL, ['dgs2'], []),
    IF(term_spread IS NULL, ['term_spread'], []),
    IF(t10yie IS NULL, ['t10yie'], []),
    IF(fed_funds IS NULL, ['fed_funds'], []),
    IF(cpi_yoy IS NULL, ['cpi_yoy'], []),
    IF(usd_broad_chg_21 IS NULL, ['usd_broad_chg_21'], []),
    IF(brent_wti_spread IS NULL, ['brent_wti_spread'], []),
    IF(brl_usd_chg_21 IS NULL, ['brl_usd_chg_21'], []),
    IF(cot_zl_net_pct IS NULL, ['cot_zl_net_pct'], []),
    IF(cot_zl_net_chg IS NULL, ['cot_zl_net_chg'], []),
    IF(wx_tmax_anom_7d IS NULL, ['wx_tmax_anom_7d'], []),
    IF(wx_prcp_anom_30d IS NULL, ['wx_prcp_anom_30d'], [])
  ), ', ') AS null_columns
FROM ${features}.zl_daily_v1
WHERE NOT is_warmup
  AND (
    regime IS NULL OR ret_1d IS NULL OR ret_5d IS NULL OR ret_21d IS NULL OR ret_63d IS NULL
    OR sma_ratio_10 IS NULL OR sma_ratio_20 IS NULL OR sma_ratio_50 IS NULL OR sma_ratio_200 IS NULL
    OR ema_ratio_10 IS NULL OR ema_ratio_20 IS NULL OR ema_ratio_50 IS NULL OR ema_ratio_200 IS NULL
    OR rsi_14 IS NULL OR macd IS NULL OR macd_signal IS NULL OR macd_hist IS NULL
    OR bb_pctb_20 IS NULL OR atr_14_pct IS NULL OR rv_5 IS NULL OR rv_21 IS NULL OR rv_63 IS NULL
    OR volume_z_21 IS NULL OR dist_52w_high IS NULL OR dist_52w_low IS NULL
    OR board_crush IS NULL OR oil_share IS NULL OR zs_ret_1d IS NULL OR cl_ret_1d IS NULL
    OR es_ret_1d IS NULL OR zc_ret_1d IS NULL OR cl_ret_5d IS NULL OR es_ret_5d IS NULL
    OR corr_zl_cl_63 IS NULL OR corr_zl_es_63 IS NULL OR corr_zl_zs_63 IS NULL
    OR dgs10 IS NULL OR dgs2 IS NULL OR term_spread IS NULL OR t10yie IS NULL OR fed_funds IS NULL
    OR cpi_yoy IS NULL OR usd_broad_chg_21 IS NULL OR brent_wti_spread IS NULL
    OR brl_usd_chg_21 IS NULL OR cot_zl_net_pct IS NULL OR cot_zl_net_chg IS NULL
    OR wx_tmax_anom_7d IS NULL OR wx_prcp_anom_30d IS NULL
  )
