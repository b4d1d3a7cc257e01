-- description: Macro and positioning values stay inside plausible bounds per series (a file in basis points or another unit stops here, naming its file and row).
WITH bounds AS (
  SELECT 'DGS10' AS series_id, -5.0 AS min_value, 25.0 AS max_value
  UNION ALL SELECT 'DGS2', -5.0, 25.0
  UNION ALL SELECT 'FEDFUNDS', -5.0, 25.0
  UNION ALL SELECT 'T10YIE', -5.0, 10.0
  UNION ALL SELECT 'DTWEXBGS', 50.0, 250.0
  UNION ALL SELECT 'DCOILWTICO', -100.0, 400.0
  UNION ALL SELECT 'DCOILBRENTEU', 0.0, 400.0
  UNION ALL SELECT 'DEXBZUS', 0.1, 50.0
  UNION ALL SELECT 'CPIAUCSL', 10.0, 2000.0
  UNION ALL SELECT 'COT', -100.0, 100.0
)
SELECT m.series_id, m.obs_date, m.value, b.min_value, b.max_value
FROM ${staging}.macro_releases AS m
JOIN bounds AS b
  ON b.series_id = IF(STARTS_WITH(m.series_id, 'COT_'), 'COT', m.series_id)
WHERE m.value < b.min_value OR m.value > b.max_value
