-- materialize: table
-- description: Named market regimes with date ranges, for stamping rows and splitting metrics. Hindsight labels: never a model input.
SELECT 'pre_crisis_boom' AS regime, DATE '2004-01-01' AS start_date, DATE '2008-06-30' AS end_date,
  'Commodity boom into the July 2008 peak' AS description
UNION ALL SELECT 'crisis_2008', DATE '2008-07-01', DATE '2009-06-30',
  'Global financial crisis: collapse from the 2008 high'
UNION ALL SELECT 'recovery_supercycle', DATE '2009-07-01', DATE '2014-06-30',
  'Recovery, 2010-12 droughts and high-price supercycle'
UNION ALL SELECT 'commodity_slump', DATE '2014-07-01', DATE '2016-12-31',
  '2014-16 commodity slump: oil crash, record crops'
UNION ALL SELECT 'trade_war', DATE '2017-01-01', DATE '2019-12-31',
  '2018-19 US-China trade war and soybean tariffs'
UNION ALL SELECT 'covid', DATE '2020-01-01', DATE '2020-12-31',
  '2020 COVID demand shock and rebound'
UNION ALL SELECT 'biofuel_war_spike', DATE '2021-01-01', DATE '2022-12-31',
  '2021-22 renewable diesel demand and Russia-Ukraine war spike'
UNION ALL SELECT 'post_spike_normalisation', DATE '2023-01-01', DATE '2099-12-31',
  '2023- normalisation as biofuel capacity and crops caught up'
