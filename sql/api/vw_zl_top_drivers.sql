-- materialize: view
-- description: The features that move the latest live median forecast most (TreeSHAP, log-return units), ranked per horizon and model.
WITH latest AS (
  SELECT horizon, model, MAX(as_of_date) AS as_of_date
  FROM ${forecasts}.zl_explainers_daily
  WHERE kind = 'live'
  GROUP BY horizon, model
)
SELECT
  e.as_of_date,
  e.horizon,
  e.model,
  e.model_version,
  e.feature,
  e.value AS contribution,
  ABS(e.value) AS abs_contribution,
  e.base_value,
  ROW_NUMBER() OVER (
    PARTITION BY e.horizon, e.model ORDER BY ABS(e.value) DESC, e.feature
  ) AS rank
FROM ${forecasts}.zl_explainers_daily AS e
JOIN latest AS l
  ON l.horizon = e.horizon AND l.model = e.model AND l.as_of_date = e.as_of_date
WHERE e.kind = 'live'
