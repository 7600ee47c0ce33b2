-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('bigquery',) %}
SELECT
  provider,
  model,
  SUM(cost_usd) AS cost_usd,
  CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS INT64) AS goals_achieved,
  SUM(cost_usd) / NULLIF(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END), 0) AS cost_per_goal_usd
FROM {{ source('agent_runs', 'runs') }}
WHERE
  cost_usd IS NOT NULL AND goal_achieved IS NOT NULL
GROUP BY
  1,
  2
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  provider,
  model,
  SUM(cost_usd) AS cost_usd,
  CAST(SUM(CASE WHEN goal_achieved <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS goals_achieved,
  SUM(cost_usd) / NULLIF(SUM(CASE WHEN goal_achieved <> 0 THEN 1 ELSE 0 END), 0) AS cost_per_goal_usd
FROM {{ source('agent_runs', 'runs') }}
WHERE
  cost_usd IS NOT NULL AND goal_achieved IS NOT NULL
GROUP BY
  1,
  2
{% elif target.type in ('clickhouse',) %}
SELECT
  provider,
  model,
  SUM(cost_usd) AS cost_usd,
  CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS Nullable(Int64)) AS goals_achieved,
  SUM(cost_usd) / nullIf(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END), 0) AS cost_per_goal_usd
FROM {{ source('agent_runs', 'runs') }}
WHERE
  cost_usd IS NOT NULL AND goal_achieved IS NOT NULL
GROUP BY
  1,
  2
{% else %}
SELECT
  provider,
  model,
  SUM(cost_usd) AS cost_usd,
  CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS BIGINT) AS goals_achieved,
  SUM(cost_usd) / NULLIF(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END), 0) AS cost_per_goal_usd
FROM {{ source('agent_runs', 'runs') }}
WHERE
  cost_usd IS NOT NULL AND goal_achieved IS NOT NULL
GROUP BY
  1,
  2
{% endif %}
