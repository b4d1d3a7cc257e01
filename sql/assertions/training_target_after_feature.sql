-- description: Every target is realised strictly after the date its features describe.
SELECT horizon_name, trade_date, target_date
FROM ${training}.zl_targets
WHERE target_date <= trade_date
